"""The one check that a record hanging off a case may be touched in the case's state.

Every service that writes such a record (an agenda item, a contribution, a decision, the
minutes, an information request or its answer, a consent, an intervention or its moves,
a progress note, a review, a break-glass grant) asks `require` with its operation's name;
the pages ask `allowed` before they offer the form. Which states allow what is the case
workflow's `operations:` (workflow/operations.py), never a list in code.
"""

from referral.domain.errors import Conflict
from referral.services.case_status import AnyCase
from referral.services.uow import UnitOfWork
from referral.workflow.operations import OPERATIONS, refusal


def allowed(uow: UnitOfWork, case: AnyCase, operation: str) -> bool:
    """Whether the case's workflow allows `operation` in the state the case is in now."""
    _known(operation)
    workflow = uow.workflow_read(case.workflow_name, case.workflow_version)
    return workflow.allows(operation, case.state)


def require(uow: UnitOfWork, case: AnyCase, operation: str) -> None:
    """Refuse (409, naming the state in words) an operation the case's state does not allow."""
    _known(operation)
    workflow = uow.workflow_at(case.workflow_name, case.workflow_version)
    if workflow is None:
        raise Conflict(
            "case {case} runs {workflow} version {version}, which is no longer loaded: migrate "
            "the case (referral workflows migrate)",
            case=case.id,
            workflow=case.workflow_name,
            version=case.workflow_version,
        )
    if not workflow.allows(operation, case.state):
        raise refusal(workflow, operation, case.state)


def _known(operation: str) -> None:
    # A name the registry lacks is a slip in the code, not a state of the case: a file
    # could never allow it, and every attempt would be refused as if out of order.
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation '{operation}': register it in workflow/operations.py")
