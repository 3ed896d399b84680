"""The `referral` command: database, demo data, workflow and policy checks, audit."""

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from referral.config import Settings, get_settings
from referral.domain.errors import ConfigurationError, NotFound, ReferralError
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
    from referral.config import keyring_of
    from referral.db.engine import make_engine
    from referral.db.legacy import seal_clear_fields, seal_webhook_secrets
    from referral.db.migrate import upgrade

    settings = _settings()
    _ensure_sqlite_directory(settings.database_url)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    click.echo("database is at the latest migration")
    sealed = seal_clear_fields(engine, keyring_of(settings))
    if sealed:
        click.echo(f"sealed {sealed} personal fields written before encryption")
    with engine.begin() as connection:
        hooks = seal_webhook_secrets(connection, keyring_of(settings))
    if hooks:
        click.echo(f"sealed {hooks} webhook secrets stored in clear before migration 0023")


def _ensure_sqlite_directory(url: str) -> None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)


@main.command()
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
@click.option(
    "--training",
    is_flag=True,
    help="Also seed the training network of practice cases (alone, if the demo is there).",
)
@reports_errors
def demo(if_empty: bool, training: bool) -> None:
    """Seed synthetic demo networks (demo only: every password is 'demo-password')."""
    from referral.bootstrap import build_runtime
    from referral.demo import seed_demo

    runtime = build_runtime(_settings())
    summary = seed_demo(runtime, skip_if_populated=if_empty, training=training)
    click.echo(summary)


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port to listen on (default 8000).")
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=1),
    help="Server processes sharing the port (default REFERRAL_WORKERS, 1).",
)
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the web application and the JSON API."""
    import uvicorn

    from referral.config import keyring_of

    settings = _settings()
    try:
        keyring_of(settings).require()
    except ConfigurationError as exc:
        _fail(exc.message)
    # Each process builds its own app from the same settings (the environment): app
    # processes are stateless, everything they share lives in the database.
    processes = workers or settings.workers
    with metrics_directory(processes):
        uvicorn.run(
            "referral.web.app:create_app",
            factory=True,
            workers=processes,
            host=host or settings.host,
            port=port or settings.port,
            log_level=settings.log_level.lower(),
            proxy_headers=False,
            loop=event_loop(processes),
        )


@contextmanager
def metrics_directory(processes: int) -> Iterator[None]:
    """With several processes, a fresh directory where each writes its metrics' counts, so
    that a scrape of /metrics, whichever process answers it, sums them all
    (prometheus-client's multiprocess mode). It is prometheus-client's own variable, read
    when the library is first imported: set here, before uvicorn imports the app or
    starts a worker (each inherits the environment). Removed when the server stops:
    counts start again from zero with the next server, as a single process's do. One
    process keeps its counts in memory: a shared-file write costs an observation four
    times as much (docs/operations.md, Monitoring)."""
    import os
    import shutil
    import tempfile

    if processes == 1:
        yield
        return
    directory = tempfile.mkdtemp(prefix="referral-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    try:
        yield
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def event_loop(processes: int) -> str:
    """The event loop uvicorn runs, chosen by measurement (docs/performance.md, fifth
    pass). One process: the standard library's, whose slowest requests at 50 and 200
    connections wait about half as long as uvloop's, at the same throughput. Several
    sharing one port: uvloop ("auto": wherever it is installed, every platform but
    Windows), which lets each process take its share of a burst of new connections;
    the standard loop's first process to wake accepts them all."""
    return "asyncio" if processes == 1 else "auto"


@main.command()
@click.option("--batch", type=click.IntRange(min=1), default=None, help="Most timers to handle.")
@reports_errors
def tick(batch: int | None) -> None:
    """Run the clock once (for cron): fire every due timer, then print what was done."""
    import os
    from dataclasses import replace

    from referral.audit.sequencer import sequence_pending
    from referral.services.timers import ClockRules
    from referral.services.timers import tick as run_tick

    settings = _settings()
    runtime = _clock_runtime(settings)
    rules = ClockRules.from_settings(settings, runtime.workflows.every())
    if batch is not None:
        rules = replace(rules, batch=batch)
    report = run_tick(runtime, rules, request_id=f"tick-{os.getpid()}")
    sequence_pending(runtime.session_factory)  # the clock's entries, and any left queued
    click.echo(str(report))


@main.command()
@click.option(
    "--interval",
    type=click.FloatRange(min=0.01),
    default=None,
    help="Seconds between ticks (default REFERRAL_WORKER_INTERVAL_SECONDS).",
)
@reports_errors
def worker(interval: float | None) -> None:
    """Run the clock continuously; SIGTERM or SIGINT stops it after the timer in hand."""
    import os

    from referral.audit.sequencer import BackgroundSequencer
    from referral.services.timers import ClockRules, run_worker

    settings = _settings()
    runtime = _clock_runtime(settings)
    stop = _event_set_by_signals()
    seconds = interval or settings.worker_interval_seconds
    click.echo(f"worker started: a tick every {seconds:g}s; stop with SIGTERM or Ctrl-C", err=True)
    rules = ClockRules.from_settings(settings, runtime.workflows.every())
    sequencer = BackgroundSequencer(
        runtime.session_factory, max(settings.audit_sequencer_interval_ms, 200) / 1000
    )
    sequencer.start()
    try:
        total = run_worker(runtime, rules, seconds, stop, request_id=f"worker-{os.getpid()}")
    finally:
        sequencer.stop()
    click.echo(f"worker stopped: {total}", err=True)


def _event_set_by_signals() -> threading.Event:
    """An event a thread of its own sets on SIGTERM or SIGINT.

    A Python signal handler runs in the main thread between bytecodes, possibly while that
    thread holds the event's own lock inside `Event.wait`; `Event.set` from the handler then
    waits for that lock forever. So the signals are blocked in every thread (threads started
    later inherit the mask) and one daemon thread takes them with `sigwait`.
    """
    import signal

    signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    stop = threading.Event()

    def wait_for_signal() -> None:
        signal.sigwait(signals)
        stop.set()

    threading.Thread(target=wait_for_signal, name="signal-waiter", daemon=True).start()
    return stop


def _clock_runtime(settings: Settings) -> Any:
    from referral.bootstrap import build_runtime
    from referral.config import keyring_of

    try:
        keyring_of(settings).require()
    except ConfigurationError as exc:
        _fail(exc.message)
    return build_runtime(settings)


@main.group()
def holidays() -> None:
    """Per-network holiday calendars: days that working-day deadlines skip."""


@holidays.command("import")
@click.argument("network")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Also remove holidays the file does not list.")
@reports_errors
def holidays_import(network: str, file: Path, replace: bool) -> None:
    """Load NETWORK's holidays from FILE: one `YYYY-MM-DD,label` a line, # for comments."""
    from referral.bootstrap import build_runtime
    from referral.services.holidays import ImportHolidays, import_holidays, parse_holidays
    from referral.services.uow import UnitOfWork

    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        _fail(f"{file}: not UTF-8 text")
    parsed = parse_holidays(text, str(file))
    with UnitOfWork(build_runtime(_settings()), request_id="holidays") as uow:
        done = import_holidays(uow, ImportHolidays(network, tuple(parsed), replace))
    click.echo(
        f"{network}: {done.added} added, {done.relabelled} relabelled, {done.removed} removed "
        f"({len(parsed)} listed in {file})"
    )


@holidays.command("list")
@click.argument("network")
@reports_errors
def holidays_list(network: str) -> None:
    """Print NETWORK's holidays in the import format."""
    from referral.bootstrap import build_runtime
    from referral.services.holidays import list_holidays
    from referral.services.uow import UnitOfWork

    with UnitOfWork(build_runtime(_settings())) as uow:
        days = list_holidays(uow, network)
    for holiday in days:
        click.echo(f"{holiday.day.isoformat()},{holiday.label}")


@main.group()
def networks() -> None:
    """Networks of the deployment: create and list them (the operator's, or national)."""


@networks.command("create")
@click.option("--name", required=True, help="The network's name, as people see it.")
@click.option("--slug", required=True, help="Short name: lower-case letters, digits, hyphens.")
@click.option(
    "--kind",
    type=click.Choice(["city", "national", "training"]),
    default="city",
    show_default=True,
)
@click.option("--time-zone", default="Europe/London", show_default=True, help="IANA name.")
@click.option("--languages", default="en", show_default=True, help="Tags, default first.")
@click.option("--admin", "admin_username", default="", help="An existing user to administer it.")
@reports_errors
def networks_create(
    name: str, slug: str, kind: str, time_zone: str, languages: str, admin_username: str
) -> None:
    """Create a network (audited, as the operator)."""
    from referral.bootstrap import build_runtime
    from referral.domain.errors import InvalidInput
    from referral.services.networks import CreateNetwork, create_network
    from referral.services.uow import UnitOfWork

    command = CreateNetwork(name, slug, kind, time_zone, languages, admin_username)
    with UnitOfWork(build_runtime(_settings()), request_id="networks-create") as uow:
        try:
            network_id = create_network(uow, None, command)
        except InvalidInput as exc:
            for option, message in exc.errors.items():
                click.echo(f"error: --{option.replace('_', '-')}: {message}", err=True)
            sys.exit(1)
    click.echo(f"network '{slug}' created (id {network_id})")


@networks.command("list")
@reports_errors
def networks_list() -> None:
    """Print every network: slug, kind, time zone, languages, name."""
    from referral.bootstrap import build_runtime
    from referral.services.networks import all_networks
    from referral.services.uow import UnitOfWork

    with UnitOfWork(build_runtime(_settings()), request_id="networks-list") as uow:
        rows = all_networks(uow, None)
    for row in rows:
        click.echo(f"{row.slug}\t{row.kind}\t{row.time_zone}\t{row.languages}\t{row.name}")


@main.group()
def users() -> None:
    """Accounts: import organisations, users and roles from a CSV file; reset a lost
    second factor."""


@users.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the whole file and write nothing.")
@reports_errors
def users_import(file: Path, dry_run: bool) -> None:
    """Create the organisations, users and roles FILE lists (docs/operations.md, Importing
    users). Every problem is printed with its line and column, and nothing is written
    unless the whole file is valid. The file holds no password: an administrator sets
    each new account's first password on the Users page."""
    from referral.bootstrap import build_runtime
    from referral.services.uow import UnitOfWork
    from referral.services.user_import import ImportUsers, import_as_operator

    content = file.read_bytes()
    with UnitOfWork(build_runtime(_settings()), request_id="users-import") as uow:
        report = import_as_operator(uow, ImportUsers(content, apply=not dry_run))
    for problem in report.problems:
        click.echo(f"{file}: {problem}", err=True)
    if not report.valid:
        _fail(f"{file}: {len(report.problems)} problem(s); nothing was imported")
    done = "imported" if report.applied else "would import (dry run, nothing written)"
    click.echo(
        f"{file}: {done} {len(report.users)} users and "
        f"{len(report.new_organisations)} new organisations"
    )


@users.command("reset-second-factor")
@click.argument("username")
@click.option("--network", "network", required=True, help="The user's network (its slug).")
@reports_errors
def users_reset_second_factor(username: str, network: str) -> None:
    """Forget USERNAME's second factor (a lost phone): their app and recovery codes stop
    working, their sessions end, and their next sign-in sets a new one up. Audited as the
    network's `system` actor (admin:second_factor_reset)."""
    from referral.bootstrap import build_runtime
    from referral.services.admin import reset_second_factor_as_operator
    from referral.services.uow import UnitOfWork

    with UnitOfWork(build_runtime(_settings()), request_id="cli") as uow:
        reset_second_factor_as_operator(uow, username, network)
    click.echo(f"the second factor of {username} ({network}) was reset; they set one up again")


@main.group()
def keys() -> None:
    """Master keys that wrap each subject's data key."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new master key entry for REFERRAL_MASTER_KEYS."""
    from datetime import UTC, datetime

    from referral.keyring import new_master_key

    key_id = f"k{datetime.now(UTC):%Y%m%d%H%M%S}"
    click.echo(f"{key_id}:{new_master_key()}")


@keys.command("init")
@reports_errors
def keys_init() -> None:
    """Development only: create a master key in var/referral.env if none is configured."""
    from referral.config import LOCAL_ENV_FILE, keyring_of
    from referral.keyring import new_master_key

    keyring = keyring_of(_settings())
    lines = [] if keyring.configured else [f"REFERRAL_MASTER_KEYS=dev-1:{new_master_key()}"]
    if keyring.linkage is None:
        lines.append(f"REFERRAL_LINKAGE_KEY=link-1:{new_master_key()}")
    if not lines:
        click.echo("a master key and a linkage key are already configured")
        return
    LOCAL_ENV_FILE.parent.mkdir(parents=True, exist_ok=True)
    with LOCAL_ENV_FILE.open("a") as env_file:
        env_file.write("".join(f"{line}\n" for line in lines))
    LOCAL_ENV_FILE.chmod(0o600)
    written = " and ".join(line.partition("=")[0] for line in lines)
    click.echo(f"{written} written to {LOCAL_ENV_FILE} (development only: see docs/security.md)")


@keys.command("rotate")
@click.option("--as", "username", required=True, help="You: an administrator with a second factor.")
@click.option("--network", default=None, help="Your network (if you hold roles in several).")
@click.option(
    "--code",
    envvar="REFERRAL_SECOND_FACTOR_CODE",
    default=None,
    help="The current code of your authenticator app (asked for when not given).",
)
@reports_errors
def keys_rotate(username: str, network: str | None, code: str | None) -> None:
    """Re-wrap every data key and sealed secret with the current master key
    (REFERRAL_MASTER_KEY_ID). Run as yourself, an administrator, confirming with your
    second factor; the audit log records who rotated (keys:rotate)."""
    from referral.bootstrap import build_runtime
    from referral.config import keyring_of
    from referral.services import key_rotation, second_factor, throttle
    from referral.services.uow import UnitOfWork

    settings = _settings()
    keyring_of(settings).require()
    runtime = build_runtime(settings)
    with UnitOfWork(runtime, request_id="cli") as uow:
        actor = key_rotation.operator(uow, username, network)
        if code is None:
            code = click.prompt("Code from your authenticator app", hide_input=True)
        offered = second_factor.Confirmation(
            code=code,
            client="cli",
            limits=throttle.Limits.of(settings),
        )
        rotated = key_rotation.rotate(uow, actor, offered)
    current = rotated.master_key_id
    click.echo(f"{rotated.data_keys} data keys re-wrapped with master key {current}")
    click.echo(
        f"{rotated.second_factors} second-factor secrets re-wrapped with master key {current}"
    )
    click.echo(f"{rotated.webhook_secrets} webhook secrets re-wrapped with master key {current}")
    for master_id, live in sorted(rotated.use.items()):
        click.echo(f"  {master_id}: wraps {live} live data keys and sealed secrets")
    retired = sorted(set(keyring_of(settings).master_keys) - set(rotated.use))
    if retired:
        click.echo(f"no data key needs {', '.join(retired)} any more; it may be retired")
    click.echo(f"recorded in the audit log as rotated by {username}")


@main.group()
def linkage() -> None:
    """Repeat-referral linkage tokens (docs/linkage.md)."""


@linkage.command("rebuild")
@reports_errors
def linkage_rebuild() -> None:
    """Key every submitted case's linkage tokens again with REFERRAL_LINKAGE_KEY (after
    changing it): the old tokens go, new ones come from the sealed names and dates."""
    from referral.bootstrap import build_runtime
    from referral.services.linkage import rebuild
    from referral.services.uow import UnitOfWork

    runtime = build_runtime(_settings())
    with UnitOfWork(runtime, request_id="cli") as uow:
        count = rebuild(uow)
    click.echo(f"linkage tokens rebuilt for {count} cases with the configured linkage key")


@main.group()
def retention() -> None:
    """Retention rules: erase cases whose retention period is over."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="List what would be erased; change nothing.")
@reports_errors
def retention_run(dry_run: bool) -> None:
    """Apply the retention rules now (the workflow files' `retain_months`, overridden by
    REFERRAL_RETENTION_MONTHS). Safe to run again: nothing is erased twice."""
    from referral.bootstrap import build_runtime
    from referral.services.retention import retention_rules, run_retention

    settings = _settings()
    runtime = build_runtime(settings)
    rules = retention_rules(runtime.workflows.every(), settings.retention_months)
    report = run_retention(runtime, rules, dry_run=dry_run)
    verb = "would erase" if dry_run else "erased"
    cases = ", ".join(str(c) for c in report.erased_cases) or "none"
    click.echo(f"{verb} {len(report.erased_cases)} cases: {cases}")
    if not dry_run:
        click.echo(f"destroyed the data keys of {len(report.erased_subjects)} subjects")
    for case_id, problem in sorted(report.failures.items()):
        click.echo(f"case {case_id} not erased: {problem}", err=True)
    if report.failures:
        sys.exit(1)


@main.group()
def workflows() -> None:
    """Workflow definitions in workflows/."""


@workflows.command("check")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def workflows_check(files: tuple[Path, ...]) -> None:
    """Validate and verify workflow files (default: every file under workflows/, each
    version of each workflow on its own)."""
    from referral.authz.enforcer import Authorizer
    from referral.workflow.loader import load_workflow
    from referral.workflow.schema import Workflow
    from referral.workflow.verify import verify_workflow

    settings = _settings()
    paths = list(files) or sorted(settings.workflows_dir.rglob("*.yaml"))
    problems: list[str] = []
    try:
        authz = Authorizer(settings.policies_dir)
    except ConfigurationError as exc:
        _fail(exc.message)
    holders = authz.permission_holders()
    loaded: dict[str, Workflow] = {}
    for path in paths:
        try:
            workflow = load_workflow(path)
        except ConfigurationError as exc:
            problems.append(exc.message)
            continue
        if workflow.name not in loaded or workflow.version > loaded[workflow.name].version:
            loaded[workflow.name] = workflow  # the policy's fit is judged on the newest
        problems.extend(verify_workflow(workflow, holders))
    if not problems:
        problems.extend(_policy_fit_problems(authz, loaded))
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        sys.exit(1)
    click.echo(f"{len(paths)} workflow file(s) valid and verified")


@workflows.command("migrate")
@click.argument("name")
@click.option("--from", "from_version", type=int, required=True, help="The version cases run now.")
@click.option("--to", "to_version", type=int, required=True, help="The version to move them to.")
@click.option(
    "--map",
    "pairs",
    multiple=True,
    metavar="OLD=NEW",
    help="Where cases in state OLD go in the new version (default: the same name).",
)
@click.option("--network", default=None, help="Only this network's cases (its slug).")
@click.option("--dry-run", is_flag=True, help="Report what would happen; write nothing.")
@reports_errors
def workflows_migrate(
    name: str,
    from_version: int,
    to_version: int,
    pairs: tuple[str, ...],
    network: str | None,
    dry_run: bool,
) -> None:
    """Move NAME's running cases from one version to another, each case in its own
    transaction with an audit entry; a case that may not go stays as it was."""
    from referral.services.migration import MigrateCases, migrate, parse_mapping, report_line
    from referral.services.uow import UnitOfWork

    runtime = _clock_runtime(_settings())
    with UnitOfWork(runtime, request_id="migrate") as uow:
        network_id = _network_id(uow, network)
    command = MigrateCases(
        name, from_version, to_version, parse_mapping(pairs), network_id, dry_run=dry_run
    )
    report = migrate(runtime, command, progress=lambda line: click.echo(report_line(line)))
    if dry_run:
        for line in report.lines:
            click.echo(report_line(line))
    done = "would move" if dry_run else "moved"
    click.echo(
        f"{name} v{from_version} -> v{to_version}: {report.moved} case(s) {done},"
        f" {report.refused} refused" + (" (dry run: nothing written)" if dry_run else "")
    )
    if report.refused:
        sys.exit(1)


def _policy_fit_problems(authz: Any, checked: dict[str, Any]) -> list[str]:
    """How the policy fits every workflow together (referral.authz.fit): the files checked,
    and the deployment's other workflow files beside them."""
    from referral.authz.fit import case_workflow_of, unsatisfiable_conditions, unused_permissions
    from referral.services.linked_states import missing_states
    from referral.services.permissions import ASKED_BY_SERVICES
    from referral.workflow.loader import load_workflows

    try:
        workflows = {**load_workflows(_settings().workflows_dir), **checked}
    except ConfigurationError as exc:
        return [exc.message]
    problems = missing_states(workflows.values())
    problems += unused_permissions(authz.rules, workflows.values(), ASKED_BY_SERVICES)
    case_workflow = case_workflow_of(workflows)
    if case_workflow is not None:
        problems.extend(unsatisfiable_conditions(authz.rules, case_workflow))
    return problems


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


@policy.command("diff")
@click.option(
    "--proposed",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="The folder of proposed policy files (model.conf and *.csv).",
)
@click.option("--network", default=None, help="Only this network's users and cases (its slug).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "html"]),
    default="markdown",
    show_default=True,
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@reports_errors
def policy_diff(proposed: Path, network: str | None, fmt: str, out: Path | None) -> None:
    """Who would gain and who would lose what under the PROPOSED policy, counted over the
    live cases and current users (numbers only)."""
    from referral.authz.enforcer import Authorizer
    from referral.services.impact_report import RENDERERS
    from referral.services.policy_impact import policy_impact
    from referral.services.uow import UnitOfWork

    runtime = _clock_runtime(_settings())
    candidate = Authorizer(proposed)
    with UnitOfWork(runtime, request_id="policy-diff") as uow:
        network_id = _network_id(uow, network)
        impact = policy_impact(uow, runtime.authz, candidate, network_id=network_id)
    text = RENDERERS[fmt](impact)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}")


@policy.command("apply")
@click.option(
    "--proposed",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="The folder of proposed policy files whose impact the dpo read.",
)
@click.option("--approved-by", "dpo", required=True, help="The approving dpo's username.")
@click.option("--network", required=True, help="The network whose dpo approves (its slug).")
@click.option(
    "--expect",
    "expected",
    required=True,
    help="The proposed policy's hash, as `policy diff` printed it.",
)
@reports_errors
def policy_apply(proposed: Path, dpo: str, network: str, expected: str) -> None:
    """Put the PROPOSED policy in force, with the dpo's approval and the impact's summary
    in the audit log. Every process picks the new files up on its next request."""
    from referral.services.policy_impact import ApplyPolicy, apply_policy
    from referral.services.uow import UnitOfWork

    runtime = _clock_runtime(_settings())
    with UnitOfWork(runtime, request_id="policy-apply") as uow:
        network_id = _network_id(uow, network)
        user = uow.repo.user_by_username(dpo)
        approver = uow.repo.actor_in(user.id, network_id) if user and network_id else None
        if approver is None:
            raise NotFound(
                "no active user '{dpo}' in network '{network}'", dpo=dpo, network=network
            )
        applied = apply_policy(uow, runtime.authz, ApplyPolicy(proposed, approver, expected))
    click.echo(f"policy {applied} in force, approved by {dpo}")


def _network_id(uow: Any, slug: str | None) -> int | None:
    if slug is None:
        return None
    found = uow.repo.network_by_slug(slug)
    if found is None:
        raise NotFound("no network '{slug}'", slug=slug)
    return int(found.id)


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
    from referral.web.templating import state_labeller
    from referral.workflow.loader import load_workflows

    settings = _settings()
    authorizer = Authorizer(settings.policies_dir)
    state_label = state_labeller(load_workflows(settings.workflows_dir))
    folder = authorizer.policy_dir
    files = [folder / "model.conf", *sorted(folder.glob("*.csv"))]
    report = build_report(
        authorizer.rules,
        policy_hash=authorizer.policy_hash,
        files=[f"{path.parent.name}/{path.name}" for path in files],
        state_label=lambda state: state_label(state).lower(),
    )
    text = RENDERERS[fmt](report)
    dates = _review_dates(fmt)
    text = text.replace("</body>", dates + "</body>", 1) if fmt == "html" else text + dates
    if out is None:
        click.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    click.echo(f"policy report written to {out} (policy {authorizer.policy_hash[:12]})")


def _review_dates(fmt: str) -> str:
    """The review dates of every network's protocol and sharing agreement, from the
    database (services.protocols); a note instead when it cannot be read."""
    import html

    from sqlalchemy.exc import SQLAlchemyError

    from referral.bootstrap import build_runtime
    from referral.services.protocols import review_dates
    from referral.services.uow import UnitOfWork

    try:
        with UnitOfWork(build_runtime(_settings()), request_id="policy-report") as uow:
            lines = review_dates(uow)
        rows = [
            f"{line.network} | {line.what}"
            f"{f' (version {line.version})' if line.version else ''} |"
            f" {line.review_on.isoformat() if line.review_on else 'not set'}"
            f"{' (overdue)' if line.overdue else ''}"
            for line in lines
        ]
    except SQLAlchemyError:
        rows = []
        note = "The database could not be read: run `referral db upgrade` first."
    else:
        note = "" if rows else "No networks yet."
    if fmt == "html":
        items = "".join(f"<li>{html.escape(row)}</li>" for row in rows)
        return f"<h2>Review dates</h2><p>{html.escape(note)}</p><ul>{items}</ul>\n"
    table = "".join(f"| {row} |\n" for row in rows)
    header = "| network | what | review date |\n|---|---|---|\n" if rows else ""
    return f"\n## Review dates\n\n{note}\n{header}{table}"


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
@click.option(
    "--since",
    "since_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Verify only the entries after this signed checkpoint's heads (a day's cost).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Connections that read each chain's segments at once (PostgreSQL).",
)
@reports_errors
def audit_verify(checkpoint_file: Path | None, since_file: Path | None, workers: int) -> None:
    """Sequence what is queued, recompute every chain; name the first bad entry."""
    from referral.audit import checkpoint as checkpoints
    from referral.audit.sequencer import sequence_pending
    from referral.audit.verify import last_seq, stored_hash, verify

    settings = _settings()
    checkpoint = _load_checkpoint(settings, checkpoint_file or since_file)
    engine, factory = _audit_database(settings)
    sequence_pending(factory)
    with factory() as session:
        if since_file is not None and checkpoint is not None:
            for trusted in checkpoint.heads:  # the start must be the checkpoint's own
                recorded = {trusted.chain: stored_hash(session, trusted.chain, trusted.seq)}
                problem = checkpoints.extends_problem(
                    checkpoint, trusted, last_seq(session, trusted.chain), recorded
                )
                if problem is not None:
                    _fail(f"audit log does not extend the checkpoint: {problem.problem}")
        since = checkpoint.trusted_heads() if since_file and checkpoint else None
        result = verify(session, since=since, engine=engine, workers=workers)
        if not result.ok:
            _fail(
                f"audit chain {result.chain} broken at entry {result.first_bad_seq}: "
                f"{result.problem}"
            )
        if checkpoint is not None and since_file is None:
            recorded = {h.chain: stored_hash(session, h.chain, h.seq) for h in checkpoint.heads}
            extended = checkpoints.check_extends(checkpoint, result, recorded)
            if not extended.ok:
                _fail(f"audit log does not extend the checkpoint: {extended.problem}")
    scope = f" after the checkpoint of {checkpoint.at}" if since_file and checkpoint else ""
    click.echo(
        f"audit chain verified: {result.entries} entries{scope} in {len(result.heads)} chains"
    )
    if result.queued:
        click.echo(f"{result.queued} entries are still queued (not in any chain yet)")
    if checkpoint is not None:
        total = sum(head.seq for head in checkpoint.heads)
        click.echo(f"extends the checkpoint of {checkpoint.at} (entry {total} of its chains)")


@audit.command("sequence")
@reports_errors
def audit_sequence() -> None:
    """Give queued audit entries their place in their chains, now."""
    from referral.audit.sequencer import sequence_pending

    _, factory = _audit_database(_settings())
    click.echo(f"audit entries sequenced: {sequence_pending(factory)}")


@audit.command("checkpoint")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the checkpoint to FILE (default: standard output).",
)
@reports_errors
def audit_checkpoint(out: Path | None) -> None:
    """Sign every chain's head with REFERRAL_AUDIT_SIGNING_KEY; keep the file elsewhere."""
    from datetime import UTC, datetime

    from referral.audit import checkpoint as checkpoints
    from referral.audit.sequencer import sequence_pending
    from referral.audit.verify import latest_policy_hash, verify

    settings = _settings()
    if settings.audit_signing_key is None:
        _fail("set REFERRAL_AUDIT_SIGNING_KEY to take checkpoints (see `referral audit keygen`)")
        return
    key = checkpoints.private_key(settings.audit_signing_key.get_secret_value())
    engine, factory = _audit_database(settings)
    sequence_pending(factory)
    with factory() as session:
        head = verify(session, engine=engine, workers=4)
        policy_hash = latest_policy_hash(session)
    text = checkpoints.sign(head, policy_hash=policy_hash, at=datetime.now(UTC), key=key)
    if out is None:
        click.echo(text, nl=False)
        return
    out.write_text(text)
    entries = sum(h.seq for h in head.heads)
    click.echo(
        f"checkpoint of {entries} entries in {len(head.heads)} chains written to {out}", err=True
    )


def _load_checkpoint(settings: Settings, path: Path | None) -> Any:
    from referral.audit import checkpoint as checkpoints

    if path is None:
        return None
    return checkpoints.load(path.read_text(), _checkpoint_key(settings))


def _audit_database(settings: Settings) -> tuple[Any, Any]:
    from referral.db.engine import make_engine, make_session_factory

    engine = make_engine(settings.database_url)
    return engine, make_session_factory(engine)


@audit.command("keygen")
def audit_keygen() -> None:
    """Print a new Ed25519 key pair for signing and checking checkpoints."""
    from referral.audit.checkpoint import new_key_pair

    private, public = new_key_pair()
    click.echo("# private: keep secret, only where checkpoints are taken")
    click.echo(f"REFERRAL_AUDIT_SIGNING_KEY={private}")
    click.echo("# public: for auditors who verify checkpoints")
    click.echo(f"REFERRAL_AUDIT_VERIFY_KEY={public}")


@main.command()
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The backup file to write (must not exist).",
)
@reports_errors
def backup(out: Path) -> None:
    """Back up the database, safely while the application runs; never its keys.

    SQLite: an online copy. PostgreSQL: pg_dump in custom format (pg_dump must be on PATH).
    """
    from referral.db.backup import back_up

    settings = _settings()
    secrets = _key_material(settings)
    kind = back_up(settings.database_url, out, secrets)
    how = "SQLite online backup" if kind == "sqlite" else "pg_dump, custom format"
    click.echo(f"backup written to {out} ({how})")
    if secrets:
        names = ", ".join(secret.name for secret in secrets)
        click.echo(f"checked: it holds no key material ({names})")
    click.echo("keys are not in the backup: keep the master keys and audit keys separately")


def _key_material(settings: Settings) -> list[Any]:
    """Every key this deployment's configuration holds: none may be inside a backup."""
    from referral.audit.checkpoint import private_key
    from referral.config import keyring_of
    from referral.db.backup import Secret

    secrets = [
        Secret(f"master key {key_id}", raw)
        for key_id, raw in keyring_of(settings).master_keys.items()
    ]
    if settings.audit_signing_key is not None:
        signing = private_key(settings.audit_signing_key.get_secret_value())
        secrets.append(Secret("audit signing key", signing.private_bytes_raw()))
    return secrets


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--into",
    default=None,
    help="URL of a new, empty database to restore into (SQLite default: FILE's name "
    "with .restored.sqlite3). Never the live one.",
)
@click.option("--verify", "check", is_flag=True, help="Then verify the restored audit log.")
@click.option(
    "--checkpoint",
    "checkpoint_path",
    type=click.Path(exists=True, path_type=Path),
    help="With --verify: a checkpoint file, or the folder where the deployment keeps its "
    "checkpoints (the newest is used), to find a rollback.",
)
@reports_errors
def restore(file: Path, into: str | None, check: bool, checkpoint_path: Path | None) -> None:
    """Restore a backup into a new database; with --verify, check its audit log and
    compare it with the newest checkpoint: exit 1 on a broken chain or a rollback."""
    from referral.audit.restored import newest_checkpoint, verify_restored
    from referral.db.backup import kind_of_file, same_database
    from referral.db.backup import restore as restore_file
    from referral.db.engine import make_engine
    from referral.db.migrate import behind_head

    settings = _settings()
    if checkpoint_path is not None and not check:
        _fail("--checkpoint is what --verify compares with: give --verify too")
    if into is None:
        if kind_of_file(file) != "sqlite":
            _fail(
                f"{file} is a PostgreSQL backup: create a new database (createdb NAME) and "
                "give it as --into postgresql+psycopg://USER@HOST:PORT/NAME"
            )
        into = f"sqlite:///{file.with_name(file.stem + '.restored.sqlite3').resolve()}"
    if same_database(into, settings.database_url):
        _fail(
            "--into names the live database (REFERRAL_DATABASE_URL): restore into a new one, "
            "verify it, then switch the deployment over"
        )
    # The checkpoint is checked before anything is written: a refusal leaves no database.
    checkpoint, source = None, None
    if checkpoint_path is not None:
        key = _checkpoint_key(settings)
        checkpoint, source = newest_checkpoint(checkpoint_path, key)
    restore_file(file, into)
    shown = _shown(into)
    click.echo(f"restored {file} into {shown}")
    engine = make_engine(into)
    try:
        behind = behind_head(engine)
        if behind is not None:
            click.echo(
                f"its schema is at revision {behind}: run `referral db upgrade` on it "
                "before serving it"
            )
        if not check:
            click.echo("not verified: run again with --verify --checkpoint DIR on a new target")
            return
        verdict = verify_restored(engine, checkpoint, source)
    finally:
        engine.dispose()
    for line in verdict.lines:
        click.echo(line, err=not verdict.ok)
    if not verdict.ok:
        click.echo(f"the restored copy is left at {shown} for inspection; drop it after", err=True)
        sys.exit(1)


def _checkpoint_key(settings: Settings) -> Any:
    from referral.audit import checkpoint as checkpoints

    signing_key = settings.audit_signing_key
    return checkpoints.verification_key(
        signing_key.get_secret_value() if signing_key else None, settings.audit_verify_key
    )


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.group()
def export() -> None:
    """Cases in standard formats, each made under one user's policy."""


@export.command("fhir")
@click.argument("case_id", type=int)
@click.option("--as", "username", required=True, help="The user whose policy the export follows.")
@click.option("--network", default=None, help="The network they act in (if they hold several).")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="File to write."
)
@reports_errors
def export_fhir(case_id: int, username: str, network: str | None, out: Path | None) -> None:
    """A case as a FHIR R4 Bundle (JSON) of what USERNAME may see; audited as their read.
    A case they may not see is not found (exit 1)."""
    import json

    from referral.bootstrap import build_runtime
    from referral.services.auth import actor_by_username
    from referral.services.fhir import export_case
    from referral.services.uow import UnitOfWork

    runtime = build_runtime(_settings())
    with UnitOfWork(runtime, request_id="cli") as uow:
        bundle = export_case(uow, actor_by_username(uow, username, network), case_id)
    text = json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(out, err=True)


@main.group()
def subjects() -> None:
    """The people referrals are about: subject access and erasure."""


@main.group()
def search() -> None:
    """The keyed blind index that finds cases by a person's name and date of birth."""


@search.command("reindex")
@click.option(
    "--rebuild", is_flag=True, help="Drop every entry first: after setting a new search key."
)
@reports_errors
def search_reindex(rebuild: bool) -> None:
    """Index the cases that have no index entries yet (those from before `referral db
    upgrade` added the index). Run once after the upgrade, and with --rebuild after
    setting a new REFERRAL_SEARCH_KEY (see docs/operations.md)."""
    from referral.bootstrap import build_runtime
    from referral.services.search import reindex
    from referral.services.uow import UnitOfWork

    runtime = build_runtime(_settings())
    with UnitOfWork(runtime, request_id="cli") as uow:
        count = reindex(uow, rebuild=rebuild)
        uow.commit()
    click.echo(f"{count} case(s) indexed")


@subjects.command("erase")
@click.argument("subject_id", type=int)
@click.option("--reason", required=True, help="Why (e.g. the request's reference); no names.")
@reports_errors
def subjects_erase(subject_id: int, reason: str) -> None:
    """Erase a person now: destroy their data key; every case of theirs must be closed.

    The cases keep their skeleton (states, dates, organisation kinds); the destruction
    register and the audit log record the erasure.
    """
    from referral.bootstrap import build_runtime
    from referral.db.engine import reclaim_erased
    from referral.services.erasure import EraseSubject, erase_subject
    from referral.services.uow import UnitOfWork

    settings = _settings()
    runtime = build_runtime(settings)
    with UnitOfWork(runtime, request_id="cli") as uow:
        erased = erase_subject(uow, None, EraseSubject(subject_id, reason))
    reclaim_erased(runtime.session_factory.kw["bind"])
    cases = ", ".join(str(c) for c in erased.case_ids) or "no cases"
    click.echo(
        f"subject {erased.subject_id} erased (cases: {cases}); "
        f"destruction register entry {erased.destruction_id}"
    )


@subjects.command("export")
@click.argument("subject_id", type=int)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to write subject-<id>.json and subject-<id>.html into.",
)
@reports_errors
def subjects_export(subject_id: int, out: Path) -> None:
    """Everything held about a subject and every access to it: JSON plus a readable page.

    The export is recorded in the audit log, as the network's `system` actor.
    """
    from referral.bootstrap import build_runtime
    from referral.services.subject_export import bundle_json, export_subject
    from referral.services.uow import UnitOfWork
    from referral.web.subject_bundle import bundle_html
    from referral.web.templating import state_labeller

    runtime = build_runtime(_settings())
    with UnitOfWork(runtime, request_id="cli") as uow:
        bundle = export_subject(uow, None, subject_id)
    out.mkdir(parents=True, exist_ok=True)
    paths = (out / f"subject-{subject_id}.json", out / f"subject-{subject_id}.html")
    paths[0].write_text(bundle_json(bundle), encoding="utf-8")
    paths[1].write_text(bundle_html(bundle, state_labeller(runtime.workflows)), encoding="utf-8")
    for path in paths:
        click.echo(path)


@main.group()
def stats() -> None:
    """National statistics: aggregates across networks, small cells suppressed."""


@stats.command("refresh")
@reports_errors
def stats_refresh() -> None:
    """Publish the national statistics anew (run it from cron, e.g. hourly): the page and
    the API then read this publication instead of counting every case per request."""
    from referral.bootstrap import build_runtime
    from referral.services.statistics import refresh
    from referral.services.uow import UnitOfWork

    settings = _settings()
    with UnitOfWork(build_runtime(settings), request_id="stats-refresh") as uow:
        publication = refresh(uow, settings.statistics_threshold)
    click.echo(f"statistics published; {publication.suppressed} count(s) suppressed")


@stats.command("export")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="CSV to write."
)
@reports_errors
def stats_export(out: Path) -> None:
    """Every published table and stage time as CSV (docs/statistics.md): counts below
    REFERRAL_STATISTICS_THRESHOLD, and those that would give one away, read `suppressed`;
    training networks are left out. Recorded in the national network's audit log."""
    import csv

    from referral.bootstrap import build_runtime
    from referral.services.statistics import csv_rows, export_as_operator
    from referral.services.uow import UnitOfWork

    settings = _settings()
    with UnitOfWork(build_runtime(settings), request_id="stats-export") as uow:
        publication = export_as_operator(uow, settings.statistics_threshold)
    try:
        with out.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(csv_rows(publication))
    except OSError as exc:
        _fail(f"{out}: cannot write: {exc.strerror}")
    click.echo(f"{out}: {publication.suppressed} count(s) suppressed", err=True)
