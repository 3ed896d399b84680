#!/usr/bin/env bash
# schemathesis against the served app: a real `referral serve` on a fresh SQLite demo
# database in a temp dir, on a free port, fuzzed through its OpenAPI schema as a
# coordinator and as a referrer. Any server error, or any answer that its schema does not
# describe (status, content type, body), fails the run.
#
# Reproducible: fixed seed, a bounded number of cases per operation, no example database
# carried between runs. Needs `make install` (schemathesis is in the dev extra).
# Usage: tests/fuzz/run_schemathesis.sh [EXAMPLES_PER_OPERATION]   (default 8)
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN="$PWD/.venv/bin"
EXAMPLES="${1:-8}"
SEED=20261201
WORK="$(mktemp -d)"
SERVER_PID=""

cleanup() {
  if [ -n "$SERVER_PID" ]; then kill -- -"$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export REFERRAL_DATABASE_URL="sqlite:///$WORK/referral.sqlite3"
export REFERRAL_MASTER_KEYS="$("$BIN/referral" keys generate)"
# Plain HTTP on the loopback: the sign-in helper must get its cookie back.
export REFERRAL_COOKIE_SECURE=false
# The demo people sign in with their password alone, as in `make run`.
export REFERRAL_SECOND_FACTOR_ROLES='[]'
"$BIN/referral" db upgrade > /dev/null
"$BIN/referral" demo > "$WORK/demo.log" 2>&1

PORT="$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
setsid "$BIN/referral" serve --port "$PORT" > "$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 60); do
  if curl -fsS -o /dev/null "$BASE/login" 2>/dev/null; then break; fi
  sleep 0.5
done

# The coverage phase (boundary values of every parameter: ids past 2^31, empty and
# over-long strings, missing fields) runs once, as the coordinator, who may reach every
# handler: the referrer's requests meet the same validation before the role check, so
# for them fuzzing and the stateful links are what differ.
status=0
for run in coordinator:coverage,fuzzing,stateful referrer:fuzzing,stateful; do
  who="${run%%:*}"
  phases="${run#*:}"
  echo "== schemathesis as $who ($phases; $EXAMPLES cases per operation, seed $SEED)"
  token="$("$BIN/python" tests/fuzz/sign_in.py "$BASE" "$who")"
  # From the temp dir: schemathesis leaves its .schemathesis/ folder where it runs.
  (cd "$WORK" && "$BIN/schemathesis" run "$BASE/schema/openapi.json" \
    --header "Authorization: Bearer $token" --phases "$phases" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --max-examples "$EXAMPLES" --seed "$SEED" --generation-database none \
    --request-timeout 30 --no-color --warnings off) || status=1
done

# A request's text must never reach a log line raw: no control characters in the log.
if grep -qaP '[\x00-\x08\x0b-\x1f\x7f]' "$WORK/serve.log"; then
  echo "the server log holds unprintable characters" >&2
  status=1
fi
if grep -q request_failed "$WORK/serve.log"; then
  grep request_failed "$WORK/serve.log" >&2
  status=1
fi
exit "$status"
