"""`referral stats export`: the operator's CSV of the published statistics."""

import csv
import sqlite3
from pathlib import Path

from tests.integration.conftest import referral


def test_the_export_writes_every_table_with_small_counts_suppressed(
    demo_copy: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "statistics.csv"
    result = referral("stats", "export", "--out", str(out), env=demo_copy)
    assert result.returncode == 0, result.stderr
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    tables = {r["table"] for r in rows}
    assert {"quarter", "org_kind", "outcome", "age_band", "concern"} <= tables
    counts = [r["count"] for r in rows if r["table"] != "stage_times"]
    # The demo network holds a few dozen cases: most cells are small, all of them hidden.
    assert "suppressed" in counts
    assert all(c == "suppressed" or int(c) >= 5 for c in counts)
    with sqlite3.connect(demo_copy["path"]) as db:
        (submitted,) = db.execute("SELECT count(*) FROM case_statistics").fetchone()
    grand = next(r for r in rows if r["table"] == "quarter" and r["network"] == "all"
                 and r["column"] == "total")  # fmt: skip
    assert grand["count"] in ("suppressed", str(submitted))


def test_an_unwritable_file_is_named_in_the_error(
    demo_copy: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "missing-folder" / "statistics.csv"
    result = referral("stats", "export", "--out", str(out), env=demo_copy)
    assert result.returncode == 1
    assert str(out) in result.stderr and "cannot write" in result.stderr
