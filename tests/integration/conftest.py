"""The `referral` command as a process, and a demo database the commands set up."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import TEST_MASTER_KEYS


def referral(
    *args: str, env: dict[str, str], input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "referral", *args],
        env={**os.environ, "REFERRAL_MASTER_KEYS": TEST_MASTER_KEYS, **env},
        input=input,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh SQLite file set up by the commands an operator runs, once per session.

    Tests that change it work on a copy (`demo_copy`).
    """
    path = tmp_path_factory.mktemp("cli") / "fresh.sqlite3"
    env = {"REFERRAL_DATABASE_URL": f"sqlite:///{path}", "REFERRAL_LOG_LEVEL": "WARNING"}
    for command in (
        ["db", "upgrade"],
        ["demo"],
        ["workflows", "check"],
        ["policy", "test"],
        ["audit", "verify"],
    ):
        result = referral(*command, env=env)
        assert result.returncode == 0, f"referral {' '.join(command)}: {result.stderr}"
    env["path"] = str(path)
    return env


@pytest.fixture
def demo_copy(
    demo_database: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """A copy of the demo database of one's own, to change (outside the test's tmp_path)."""
    copy = tmp_path_factory.mktemp("demo-copy") / "demo.sqlite3"
    shutil.copy(demo_database["path"], copy)
    return {**demo_database, "REFERRAL_DATABASE_URL": f"sqlite:///{copy}", "path": str(copy)}
