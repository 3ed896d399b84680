"""A scratch database for a benchmark: a SQLite file in a temporary folder, or a schema
of its own on PostgreSQL, dropped afterwards. Shared by the scripts in bench/."""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from referral.authz.enforcer import Authorizer
from referral.config import PROJECT_ROOT
from referral.db.engine import is_sqlite, make_engine, make_session_factory
from referral.keyring import Keyring
from referral.services.uow import Runtime
from referral.workflow.loader import load_workflows
from referral.workflow.machine import WorkflowEngine


@contextmanager
def database(url: str | None) -> Iterator[tuple[Engine, str]]:
    if url is None or is_sqlite(url):
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
            try:
                yield engine, "sqlite"
            finally:
                engine.dispose()
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    with admin.begin() as db:
        db.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, schema=schema)
    try:
        yield engine, "postgresql"
    finally:
        engine.dispose()
        with admin.begin() as db:
            db.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def served_url(url: str | None) -> Iterator[str]:
    """A scratch database for another process (`referral serve`): its URL, dropped after.

    SQLite: a file in a temporary folder. PostgreSQL: a schema of its own, named in the
    URL's connection options, so every process the server starts works inside it.
    """
    if url is None or is_sqlite(url):
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'served.sqlite3'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    with admin.begin() as db:
        db.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as db:
            db.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def shipped_runtime(engine: Engine, keyring: Keyring) -> Runtime:
    """A runtime on `engine` with the shipped policies and workflows, as the services see
    them in a deployment (no clock of its own, no group commit)."""
    return Runtime(
        make_session_factory(engine, keyring),
        Authorizer(PROJECT_ROOT / "policies"),
        load_workflows(PROJECT_ROOT / "workflows"),
        WorkflowEngine(),
    )


def sign_in(client: Any, username: str, password: str) -> int:
    """Sign `username` in through the app's own sign-in form (its CSRF token read from
    the page), as a browser does; the status of the form's answer (303 when it worked)."""
    form = client.get("/login").text
    csrf = re.search(r'name="_csrf" value="([^"]+)"', form)
    assert csrf, "no CSRF field on the sign-in page"
    answer = client.post(
        "/login",
        data={"_csrf": csrf.group(1), "username": username, "password": password},
        follow_redirects=False,
    )
    return int(answer.status_code)
