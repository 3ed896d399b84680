"""The protocol gate's cost on a request: `needs_acknowledgement`, asked on every gated
page and API call, against the look-up of who is asking (`auth.actor_of`), which every
signed-in request makes anyway, in the same run.

    python bench/protocol_gate.py [--users N] [--versions N] [--database-url URL] [--quick]

It seeds the demo's people plus N users who each acknowledged every one of M published
versions of the network's protocol (N x M acknowledgement rows), then times both
statements on one reading unit (median of rounds) and prints their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from scratch import database, shipped_runtime  # bench/scratch.py
from sqlalchemy import insert

from referral.db.migrate import upgrade
from referral.db.tables import NetworkProtocol, ProtocolAcknowledgement, User
from referral.services import auth, protocols
from referral.services.uow import UnitOfWork

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--quick", action="store_true", help="small figures, to keep it working")
    args = parser.parse_args()
    if args.quick:
        args.users, args.versions, args.rounds = 200, 3, 200
    from referral.demo import seed_people
    from referral.keyring import Keyring, new_master_key

    with database(args.database_url) as (engine, backend):
        upgrade(engine)
        keyring = Keyring.from_config(f"bench-1:{new_master_key()}", None)
        runtime = shipped_runtime(engine, keyring)
        world = seed_people(runtime)
        actor = world.actors["coordinator"]
        with engine.begin() as db:
            for n in range(args.users):
                db.execute(
                    insert(User).values(
                        username=f"bench-{n}",
                        display_name="B",
                        organisation_id=actor.organisation_id,
                        password_hash="not-a-hash",  # noqa: S106 - nobody signs in
                    )
                )
            first_user = actor.user_id
            for version in range(1, args.versions + 1):
                protocol_id = db.execute(
                    insert(NetworkProtocol)
                    .values(
                        network_id=actor.network_id,
                        version=version,
                        text="Bench protocol.",
                        owner="IG",
                        review_on=(START + timedelta(days=365)).date(),
                        published_at=START,
                    )
                    .returning(NetworkProtocol.id)
                ).scalar_one()
                rows = [
                    {
                        "network_id": actor.network_id,
                        "protocol_id": protocol_id,
                        "user_id": user_id,
                        "acknowledged_at": START,
                    }
                    for user_id in range(first_user, first_user + args.users + 1)
                ]
                db.execute(insert(ProtocolAcknowledgement), rows)
        with UnitOfWork(runtime, read_only=True) as uow:
            assert not protocols.needs_acknowledgement(uow, actor)
            gate = _time(args.rounds, lambda: protocols.needs_acknowledgement(uow, actor))
            who = _time(args.rounds, lambda: auth.actor_of(uow, actor.user_id, actor.network_id))
        print(
            f"{backend}: {args.users:,} users x {args.versions} versions acknowledged:"
            f" gate {gate * 1e6:.0f} us, actor look-up {who * 1e6:.0f} us,"
            f" gate / look-up {gate / who:.2f}"
        )
    return 0


def _time(rounds: int, call: Callable[[], object]) -> float:
    """The median seconds of one call, after a warm-up."""
    for _ in range(20):
        call()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


if __name__ == "__main__":
    sys.exit(main())
