"""The `referral` command: database, demo data, workflow and policy checks, audit."""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from referral.config import Settings, get_settings
from referral.domain.errors import ConfigurationError, ReferralError
from referral.logging import configure_logging


def _settings() -> Settings:
    settings = get_settings()
    configure_logging(settings)
    return settings


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def reports_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the project's own errors into one readable line and exit status 1."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ReferralError as exc:
            _fail(exc.message)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


@click.group()
def main() -> None:
    """referral: multi-agency prevention referrals under sharing policies."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@reports_errors
def db_upgrade() -> None:
    """Apply every migration to the configured database."""
    from referral.db.engine import make_engine
    from referral.db.migrate import upgrade

    settings = _settings()
    _ensure_sqlite_directory(settings.database_url)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    click.echo("database is at the latest migration")


def _ensure_sqlite_directory(url: str) -> None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)


@main.command()
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
@reports_errors
def demo(if_empty: bool) -> None:
    """Seed a synthetic demo network (demo only: every password is 'demo-password')."""
    from referral.bootstrap import build_runtime
    from referral.demo import seed_demo

    runtime = build_runtime(_settings())
    summary = seed_demo(runtime, skip_if_populated=if_empty)
    click.echo(summary)


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port to listen on (default 8000).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the web application and the JSON API."""
    import uvicorn

    from referral.web.app import create_app

    settings = _settings()
    app = create_app(settings)
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        proxy_headers=False,
    )


@main.group()
def workflows() -> None:
    """Workflow definitions in workflows/."""


@workflows.command("check")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def workflows_check(files: tuple[Path, ...]) -> None:
    """Validate and verify workflow files (default: every file in workflows/)."""
    from referral.authz.enforcer import Authorizer
    from referral.workflow.loader import load_workflow
    from referral.workflow.verify import verify_workflow

    settings = _settings()
    paths = list(files) or sorted(settings.workflows_dir.glob("*.yaml"))
    problems: list[str] = []
    try:
        holders = Authorizer(settings.policies_dir).permission_holders()
    except ConfigurationError as exc:
        _fail(exc.message)
    for path in paths:
        try:
            workflow = load_workflow(path)
        except ConfigurationError as exc:
            problems.append(exc.message)
            continue
        problems.extend(verify_workflow(workflow, holders))
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        sys.exit(1)
    click.echo(f"{len(paths)} workflow file(s) valid and verified")


@main.group()
def policy() -> None:
    """Sharing policies in policies/."""


@policy.command("test")
def policy_test() -> None:
    """Run the expected-decision tables in policies/tests/ against the policies."""
    from referral.authz.policy_tests import run_policy_tests

    settings = _settings()
    try:
        mismatches = run_policy_tests(settings.policies_dir)
    except ConfigurationError as exc:
        _fail(exc.message)
    for mismatch in mismatches:
        click.echo(mismatch, err=True)
    if mismatches:
        click.echo(f"{len(mismatches)} mismatch(es)", err=True)
        sys.exit(1)
    click.echo("every policy table matches")


@policy.command("report")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "html"]),
    default="markdown",
    show_default=True,
    help="Markdown, or a standalone HTML page.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
@reports_errors
def policy_report(fmt: str, out: Path | None) -> None:
    """Render the sharing agreement in plain words, for the people who sign it."""
    from referral.authz.enforcer import Authorizer
    from referral.authz.report import RENDERERS, build_report
    from referral.web.templating import state_label

    settings = _settings()
    authorizer = Authorizer(settings.policies_dir)
    folder = authorizer.policy_dir
    files = [folder / "model.conf", *sorted(folder.glob("*.csv"))]
    report = build_report(
        authorizer.rules,
        policy_hash=authorizer.policy_hash,
        files=[f"{path.parent.name}/{path.name}" for path in files],
        state_label=lambda state: state_label(state).lower(),
    )
    text = RENDERERS[fmt](report)
    if out is None:
        click.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    click.echo(f"policy report written to {out} (policy {authorizer.policy_hash[:12]})")


@main.group()
def audit() -> None:
    """The audit log."""


@audit.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Also prove the log still extends this signed checkpoint.",
)
@reports_errors
def audit_verify(checkpoint_file: Path | None) -> None:
    """Recompute the hash chain; name the first bad entry."""
    from referral.audit import checkpoint as checkpoints
    from referral.audit.chain import stored_entry, verify
    from referral.db.engine import make_engine, make_session_factory

    settings = _settings()
    checkpoint = None
    if checkpoint_file is not None:
        signing_key = settings.audit_signing_key
        key = checkpoints.verification_key(
            signing_key.get_secret_value() if signing_key else None, settings.audit_verify_key
        )
        checkpoint = checkpoints.load(checkpoint_file.read_text(), key)
    factory = make_session_factory(make_engine(settings.database_url))
    with factory() as session:
        result = verify(session)
        if not result.ok:
            _fail(f"audit chain broken at entry {result.first_bad_seq}: {result.problem}")
        if checkpoint is not None:
            recorded = stored_entry(session, checkpoint.seq)
            extended = checkpoints.check_extends(
                checkpoint, result, recorded.hash if recorded else None
            )
            if not extended.ok:
                _fail(f"audit log does not extend the checkpoint: {extended.problem}")
    click.echo(f"audit chain verified: {result.entries} entries")
    if checkpoint is not None:
        click.echo(f"extends the checkpoint of {checkpoint.at} (entry {checkpoint.seq})")


@audit.command("checkpoint")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the checkpoint to FILE (default: standard output).",
)
@reports_errors
def audit_checkpoint(out: Path | None) -> None:
    """Sign the chain head with REFERRAL_AUDIT_SIGNING_KEY; keep the file elsewhere."""
    from datetime import UTC, datetime

    from referral.audit import checkpoint as checkpoints
    from referral.audit.chain import stored_entry, verify
    from referral.db.engine import make_engine, make_session_factory

    settings = _settings()
    if settings.audit_signing_key is None:
        _fail("set REFERRAL_AUDIT_SIGNING_KEY to take checkpoints (see `referral audit keygen`)")
        return
    key = checkpoints.private_key(settings.audit_signing_key.get_secret_value())
    factory = make_session_factory(make_engine(settings.database_url))
    with factory() as session:
        head = verify(session)
        last = stored_entry(session, head.entries) if head.ok else None
    text = checkpoints.sign(
        head, policy_hash=last.policy_hash if last else "", at=datetime.now(UTC), key=key
    )
    if out is None:
        click.echo(text, nl=False)
        return
    out.write_text(text)
    click.echo(f"checkpoint of entry {head.entries} written to {out}", err=True)


@audit.command("keygen")
def audit_keygen() -> None:
    """Print a new Ed25519 key pair for signing and checking checkpoints."""
    from referral.audit.checkpoint import new_key_pair

    private, public = new_key_pair()
    click.echo("# private: keep secret, only where checkpoints are taken")
    click.echo(f"REFERRAL_AUDIT_SIGNING_KEY={private}")
    click.echo("# public: for auditors who verify checkpoints")
    click.echo(f"REFERRAL_AUDIT_VERIFY_KEY={public}")
