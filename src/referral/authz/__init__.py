"""Authorization: the sharing agreement in `policies/`, decided by Casbin, mirrored in SQL."""

from referral.authz.conditions import CONDITIONS, MEETING_WINDOW, Condition, Question
from referral.authz.enforcer import Authorizer, Decision, Permission, Rule
from referral.authz.filters import case_filter
from referral.authz.policy_tests import run_policy_tests

__all__ = [
    "CONDITIONS",
    "MEETING_WINDOW",
    "Authorizer",
    "Condition",
    "Decision",
    "Permission",
    "Question",
    "Rule",
    "case_filter",
    "run_policy_tests",
]
