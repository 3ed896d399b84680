"""Assemble the runtime from settings: database, policies, workflows."""

from referral.authz.enforcer import Authorizer
from referral.config import Settings, keyring_of
from referral.db.engine import make_engine, make_session_factory
from referral.security import configure_hashing
from referral.services.committer import GroupCommitter
from referral.services.linked_states import configure_states
from referral.services.uow import Runtime
from referral.services.workflow_pins import pin_workflows
from referral.workflow.loader import load_workflows
from referral.workflow.machine import WorkflowEngine


def build_runtime(
    settings: Settings,
    *,
    database_url: str | None = None,
    schema: str | None = None,
    serving: bool = False,
) -> Runtime:
    """`serving`: for a server process, whose background sequencer (when it runs one)
    also checkpoints a SQLite log, so that no request's commit does."""
    configure_hashing(
        time_cost=settings.password_time_cost,
        memory_kib=settings.password_memory_kib,
        parallelism=settings.password_parallelism,
    )
    engine = make_engine(
        database_url or settings.database_url,
        schema=schema,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        sqlite_synchronous=settings.sqlite_synchronous,
        sqlite_background_checkpoints=serving and settings.audit_sequencer_interval_ms > 0,
    )
    sessions = make_session_factory(engine, keyring_of(settings))
    workflows = load_workflows(settings.workflows_dir)
    # A file edited without a new version is refused here, before anything runs on it,
    # as is one without a linked record's state the code reads.
    configure_states(workflows.values())
    pin_workflows(sessions, workflows)
    return Runtime(
        session_factory=sessions,
        authz=Authorizer(settings.policies_dir),
        workflows=workflows,
        engine=WorkflowEngine(),
        committer=GroupCommitter(sessions, window_ms=settings.group_commit_window_ms),
    )
