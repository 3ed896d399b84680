"""Each workflow version is pinned to the content it was first loaded with.

A case records the workflow's name, version and content hash it started on. If a file
could change while its `version` stays the same, running cases would silently move by
rules they did not start on. So every process that loads the workflows (a server, the
clock, the CLI) checks each file against the hash recorded for its name and version in
`workflow_versions`, recording it if the version is new, and refuses to start on a
mismatch, naming the file. A changed process is a new version (raise `version`).
"""

from collections.abc import Mapping

from sqlalchemy import inspect, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from referral.db.base import utcnow
from referral.db.tables import WorkflowVersion
from referral.domain.errors import ConfigurationError
from referral.workflow.schema import Workflow
from referral.workflow.versions import WorkflowSet


def changed_without_new_version(workflow: Workflow, pinned_hash: str) -> str:
    """The sentence for a file whose content no longer matches its version's pin."""
    return (
        f"{workflow.path}: the content of {workflow.name} version {workflow.version} changed"
        f" since it was first loaded (sha256 {pinned_hash[:12]}…, now"
        f" {workflow.content_hash[:12]}…): cases on version {workflow.version} run the content"
        " they started with. Raise `version` for the change, or put the file back"
    )


def pin_workflows(sessions: sessionmaker[Session], workflows: Mapping[str, Workflow]) -> None:
    """Record the content of workflow versions loaded for the first time, and refuse
    (`ConfigurationError` naming every file) versions whose content changed since.

    A database not yet migrated this far has nothing to check against: the first process
    after `referral db upgrade` records the pins."""
    every = WorkflowSet.of(workflows).every()  # earlier versions loaded beside are pinned too
    with sessions() as session, session.begin():
        if not inspect(session.connection()).has_table(WorkflowVersion.__tablename__):
            return
        pinned = _pins(session)
        new = [w for w in every if (w.name, w.version) not in pinned]
        if new:  # only then a write: most starts find every version pinned
            _record(session, new)
            pinned = _pins(session)
    problems = [
        changed_without_new_version(workflow, pinned[(workflow.name, workflow.version)])
        for workflow in every
        if pinned.get((workflow.name, workflow.version), workflow.content_hash)
        != workflow.content_hash
    ]
    if problems:
        listed = "\n".join(problems)  # each problem is a sentence of its own
        raise ConfigurationError(listed)


def _pins(session: Session) -> dict[tuple[str, int], str]:
    query = select(WorkflowVersion.name, WorkflowVersion.version, WorkflowVersion.content_hash)
    return {(name, version): content_hash for name, version, content_hash in session.execute(query)}


def _record(session: Session, workflows: list[Workflow]) -> None:
    """Insert the pins of versions never loaded before; several processes starting at
    once may race to do so, and the first one's row stands (ON CONFLICT DO NOTHING)."""
    rows = [
        {
            "name": workflow.name,
            "version": workflow.version,
            "content_hash": workflow.content_hash,
            "first_loaded_at": utcnow(),
        }
        for workflow in workflows
    ]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(WorkflowVersion).values(rows).on_conflict_do_nothing())
