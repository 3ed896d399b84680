"""Invariant 6: application logs carry ids and event names, never personal data."""

import io
import logging

from structlog.testing import capture_logs

from referral.services import referrals
from referral.services.uow import Runtime
from tests.factories import make_world, referral_command, schedule, to_support

SECRETS = [
    "Unloggable",
    "Secretname",
    "MARK-NARRATIVE",
    "MARK-SPECIAL",
    "MARK-CRIMINAL",
    "MARK-SUPPORT",
]


def test_a_whole_case_logs_no_personal_data(runtime: Runtime) -> None:
    stdlib = io.StringIO()
    handler = logging.StreamHandler(stdlib)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with capture_logs() as events:
            world = make_world(runtime)
            world.run(
                "referrer",
                referrals.submit_referral,
                referral_command(
                    subject=referrals.SubjectDetails(
                        "Unloggable", "Secretname", health="MARK-SPECIAL"
                    )
                ),
            )
            to_support(world, schedule(world, runtime))
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
    names = {event["event"] for event in events}
    assert {"referral_submitted", "case_moved"} <= names
    logged = repr(events) + stdlib.getvalue()
    for secret in SECRETS:
        assert secret not in logged
