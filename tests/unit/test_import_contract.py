"""The import contract of DESIGN.md section 6 (pyproject.toml's [tool.importlinter]) holds
today, and fails on each kind of forbidden import.

Each planted import goes into a copy of the package, checked by `lint-imports` with the
project's own pyproject.toml: the very contract `make lint` runs, not a copy of its rules.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from referral.config import PROJECT_ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACT = PROJECT_ROOT / "pyproject.toml"


def lint_imports(source_root: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), str(CONTRACT), "--no-cache"],
        # The copy comes first on the path, ahead of the installed (editable) package.
        env={"PYTHONPATH": str(source_root), "PATH": str(LINT_IMPORTS.parent)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    shutil.copytree(
        PROJECT_ROOT / "src" / "referral",
        tmp_path / "src" / "referral",
        ignore=shutil.ignore_patterns("__pycache__", "static", "templates"),
    )
    return tmp_path / "src"


def test_the_package_keeps_every_contract(package_copy: Path) -> None:
    result = lint_imports(package_copy, package_copy.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        ("domain/errors.py", "import referral.db.tables", "domain imports nothing of the project"),
        (
            "authz/filters.py",
            "import referral.services.uow",
            "workflow and authz never import web, services or litestar",
        ),
        (
            "workflow/guards.py",
            "import litestar",
            "workflow and authz never import web, services or litestar",
        ),
        (
            "authz/filters.py",
            "import referral.db.repositories",
            "authz reaches the database only through the table definitions",
        ),
        ("services/scope.py", "import litestar", "services never import litestar"),
        (
            "web/deps.py",
            "from referral.db.tables import User",
            "web reaches data only through services",
        ),
        ("web/render.py", "import sqlalchemy", "web reaches data only through services"),
        (
            "db/repositories.py",
            "import referral.audit.chain",
            "db never imports services, web or audit",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    package_copy: Path, module: str, planted: str, contract: str
) -> None:
    path = package_copy / "referral" / module
    path.write_text(path.read_text() + f"\n{planted}  # planted by the test\n")

    result = lint_imports(package_copy, package_copy.parent)

    # Other contracts may break too (services import workflow, so litestar in workflow
    # reaches services as well): the one named must be among them.
    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout
