"""Back up a deployment's database, and restore a backup into a new, empty database.

SQLite: Python's sqlite3 online backup API, which copies a consistent snapshot page by
page while the application goes on reading and writing (WAL). PostgreSQL: `pg_dump` in
its custom format, restored with `pg_restore` in one transaction. Keys are never part
of a backup: master keys and the audit signing key live in configuration, and every
backup is scanned for them before it is kept (docs/operations.md#backup-and-restore).
"""

import base64
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from referral.db.engine import make_engine
from referral.domain.errors import ReferralError

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_CUSTOM_MAGIC = b"PGDMP"
CHUNK = 1 << 20
MANUAL = "docs/operations.md#backup-and-restore"  # the manual procedure


class BackupError(ReferralError):
    """A backup or restore that cannot be done, and why, in words an operator acts on."""


@dataclass(frozen=True)
class Secret:
    """A key that must never be inside a backup: its name (never its value) and bytes."""

    name: str
    raw: bytes

    def forms(self) -> tuple[bytes, ...]:
        """How the key could appear in a file: raw, base64 (configuration), hex (a dump's
        bytea), upper-case hex."""
        encoded = base64.b64encode(self.raw)
        return (self.raw, encoded, self.raw.hex().encode(), self.raw.hex().upper().encode())


def backend_of(url: str) -> str:
    return make_url(url).get_backend_name()


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if database in (None, "", ":memory:"):
        raise BackupError("an in-memory SQLite database cannot be backed up or restored into")
    return Path(str(database))


def kind_of_file(path: Path) -> str:
    """`sqlite` or `postgresql`, from the file's first bytes; else a clear error."""
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_CUSTOM_MAGIC):
        return "postgresql"
    raise BackupError(
        "{path}: not a backup this command made (neither a SQLite database nor a pg_dump "
        "custom-format archive)",
        path=path,
    )


# Taking a backup.


def back_up(url: str, out: Path, secrets: Iterable[Secret]) -> str:
    """Write a backup of the database at `url` to `out` (which must not exist); the kind
    of backup made. Nothing is left at `out` unless the backup is whole and key-free."""
    if out.exists():
        raise BackupError(
            "{out} already exists: give a new file name, a backup never overwrites", out=out
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    kind = backend_of(url)
    try:
        if kind == "sqlite":
            _sqlite_copy(sqlite_path(url), partial, source_read_only=False)
        elif kind == "postgresql":
            _pg_dump(url, partial)
        else:
            raise BackupError("cannot back up a {kind} database", kind=kind)
        partial.chmod(0o600)  # personal data, sealed but still personal
        found = keys_inside(partial, kind, secrets)
        if found:
            raise BackupError(
                "backup refused: the database holds key material ({found}); keys belong in "
                "configuration only. Nothing was written.",
                found=", ".join(found),
            )
        partial.rename(out)
    finally:
        with suppress(FileNotFoundError):
            partial.unlink()
    return kind


def _sqlite_copy(source: Path, target: Path, *, source_read_only: bool) -> None:
    """Copy `source` into a new file `target` with the online backup API: a consistent
    snapshot, taken while other connections read and write. The copy is left in rollback
    journal mode, so it is one self-contained file."""
    if not source.is_file():
        raise BackupError("{source}: no such SQLite database", source=source)
    uri = f"file:{source}?mode=ro" if source_read_only else f"file:{source}"
    src = sqlite3.connect(uri, uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            # All pages in one step, inside one read transaction: in WAL mode a reader
            # never blocks writers, and a copy in several steps would start over each
            # time another connection wrote in between (and might never finish).
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode = DELETE")
            problem = dst.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise BackupError(
                    "{source}: the copy does not check out: {problem}",
                    source=source,
                    problem=problem,
                )
        finally:
            dst.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError("{source}: {exc}", source=source, exc=exc) from exc
    finally:
        src.close()


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The connection string for libpq's tools, and their environment: the password goes
    in PGPASSWORD, never on a command line others can read."""
    parsed: URL = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str, server_major: int | None) -> str:
    found = shutil.which(name)
    if found is None:
        package = f"postgresql-client-{server_major}" if server_major else "postgresql-client"
        raise BackupError(
            "{name} is not on PATH: install the PostgreSQL client tools of the server's version "
            "(Debian: apt-get install {package}), or see {manual} for the manual procedure",
            name=name,
            package=package,
            manual=MANUAL,
        )
    return found


def server_major(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            number = connection.exec_driver_sql("SHOW server_version_num").scalar_one()
    finally:
        engine.dispose()
    return int(number) // 10000


def tool_major(path: str) -> int:
    """The major version of a libpq tool, from `pg_dump --version`."""
    shown = subprocess.run(  # noqa: S603 (a tool found on PATH, no shell)
        [path, "--version"], capture_output=True, text=True, check=False, timeout=30
    ).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", shown)
    return int(match.group(1)) if match else 0


def _pg_dump(url: str, target: Path) -> None:
    major = server_major(url)
    pg_dump = _tool("pg_dump", major)
    if tool_major(pg_dump) < major:
        raise BackupError(
            "{pg_dump} is older than the PostgreSQL {major} server and cannot dump it: install "
            "postgresql-client-{major} (Debian), or see {manual} for the manual procedure",
            pg_dump=pg_dump,
            major=major,
            manual=MANUAL,
        )
    conninfo, env = _libpq(url)
    # Custom format: compressed, and pg_restore can restore it selectively. Owners and
    # grants stay out: the target's roles are the restoring operator's to set.
    command = [pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--file={target}"]
    _run([*command, f"--dbname={conninfo}"], env, "pg_dump")


def _run(command: list[str], env: Mapping[str, str], name: str) -> None:
    # A list of arguments, no shell: the URL and file names cannot become commands.
    done = subprocess.run(  # noqa: S603
        command, env=dict(env), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        detail = lines[-1] if lines else f"exit {done.returncode}"
        raise BackupError("{name} failed: {detail}", name=name, detail=detail)


# What a backup holds.


def keys_inside(path: Path, kind: str, secrets: Iterable[Secret]) -> list[str]:
    """The names of the `secrets` found in the backup at `path`, in any of their forms.

    A SQLite backup is read as it lies on disk. A pg_dump archive is compressed, so what
    it would restore (pg_restore's SQL script) is read instead.
    """
    needles = [(secret.name, form) for secret in secrets for form in secret.forms()]
    if not needles:
        return []
    if kind == "sqlite":
        with path.open("rb") as handle:
            return _scan(_chunks(handle), needles)
    pg_restore = _tool("pg_restore", None)
    with subprocess.Popen(  # noqa: S603 (a tool found on PATH, no shell)
        [pg_restore, "--file=-", str(path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    ) as process:
        assert process.stdout is not None
        found = _scan(_chunks(process.stdout), needles)
        process.stdout.read()  # to the end, so that the tool exits on its own
    if process.returncode != 0:
        raise BackupError(
            "pg_restore cannot read {path} back (exit {returncode})",
            path=path,
            returncode=process.returncode,
        )
    return found


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK):
        yield chunk


def _scan(chunks: Iterable[bytes], needles: list[tuple[str, bytes]]) -> list[str]:
    """Which needles occur, across chunk boundaries too (a tail of the longest needle's
    length is kept from one chunk to the next)."""
    keep = max(len(needle) for _, needle in needles) - 1
    found: set[str] = set()
    tail = b""
    for chunk in chunks:
        window = tail + chunk
        found.update(name for name, needle in needles if needle in window)
        tail = window[-keep:] if keep else b""
    return sorted(found)


# Restoring.


def restore(file: Path, into: str) -> str:
    """Restore the backup `file` into the new, empty database at `into`; its kind.
    All or nothing: a SQLite copy is renamed into place whole, pg_restore runs in one
    transaction that stops at the first error."""
    kind = kind_of_file(file)
    target = backend_of(into)
    if target != kind:
        raise BackupError(
            "{file} is a {kind} backup: it cannot be restored into {target}",
            file=file,
            kind=kind,
            target=target,
        )
    if kind == "sqlite":
        path = sqlite_path(into)
        if path.exists() and path.stat().st_size > 0:
            raise BackupError(
                "{path} already exists: a backup is restored into a new database only, never over "
                "one",
                path=path,
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
        try:
            _sqlite_copy(file, partial, source_read_only=True)
            partial.rename(path)
        finally:
            with suppress(FileNotFoundError):
                partial.unlink()
        return kind
    tables = _pg_relations(into)
    if tables:
        raise BackupError(
            "the database at {url} is not empty ({tables} tables, views or sequences): a backup "
            "is restored into a new database only; create one with createdb",
            url=make_url(into).render_as_string(),
            tables=tables,
        )
    pg_restore = _tool("pg_restore", server_major(into))
    conninfo, env = _libpq(into)
    command = [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error"]
    _run([*command, "--single-transaction", f"--dbname={conninfo}", str(file)], env, "pg_restore")
    return kind


def _pg_relations(url: str) -> int:
    """How many tables, views and sequences the database holds outside the system's."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            count = connection.execute(
                text(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S')"
                    " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
                    " AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'"
                )
            ).scalar_one()
    except OperationalError as exc:  # unreachable server, no such database: say which
        reason = str(exc.orig).strip().splitlines()[-1] if exc.orig else str(exc)
        raise BackupError("cannot open the target database: {reason}", reason=reason) from exc
    finally:
        engine.dispose()
    return int(count)


def same_database(a: str, b: str) -> bool:
    """Whether two URLs name the same database (driver and password aside)."""
    first, second = make_url(a), make_url(b)
    if first.get_backend_name() != second.get_backend_name():
        return False
    if first.get_backend_name() == "sqlite":
        with suppress(BackupError, OSError):
            return sqlite_path(a).resolve() == sqlite_path(b).resolve()
        return False
    fields = ("host", "port", "database")
    return [getattr(first, f) for f in fields] == [getattr(second, f) for f in fields]
