#!/usr/bin/env bash
# Every benchmark's --quick mode, so that none can rot (`make bench-quick`, .ci/run).
#
#   bench/quick.sh [POSTGRES_URL]
#
# On SQLite, and on PostgreSQL too when a URL is given (each benchmark works in a
# scratch schema of its own and drops it). This is an anti-rot check, not a gate on
# speed: slow figures never fail it; a crash does (set -e). Server errors (5xx) and
# races off target are printed prominently, collected again at the end, and fail the
# run with BENCH_STRICT=1, as .ci/run sets it.
set -euo pipefail
cd "$(dirname "$0")"
PY=${BENCH_PYTHON:-../.venv/bin/python}
PG_URL=${1:-}
STRICT=()
if [ "${BENCH_STRICT:-0}" = 1 ]; then STRICT=(--strict); fi
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

run() {
  echo
  echo "== bench/$*"
  local start=$SECONDS
  "$PY" "$@" 2>&1 | tee -a "$LOG"
  echo "-- bench/$1: $((SECONDS - start)) s"
}

run policy.py --quick
for script in lists.py sealing.py walk.py dpo.py fuzz.py policy_diff.py migrate.py protocol_gate.py search.py national_statistics.py linkage.py languages.py; do
  run "$script" --quick
  if [ -n "$PG_URL" ]; then run "$script" --quick --database-url "$PG_URL"; fi
done
# These two take the PostgreSQL URL themselves and run SQLite as well.
run http.py --quick ${PG_URL:+--database-url "$PG_URL"} "${STRICT[@]}"
run race.py --quick ${PG_URL:+--database-url "$PG_URL"} "${STRICT[@]}"

echo
if grep -q '^!!!' "$LOG"; then
  echo "bench-quick: every benchmark ran; server errors were seen:"
  grep '^!!!' "$LOG"
else
  echo "bench-quick: every benchmark ran, no server errors"
fi
