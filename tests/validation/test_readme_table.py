"""The README's verdict table is the committed report's, and it lists every registered claim."""

from pathlib import Path

from fedtheory import CLAIMS
from fedtheory.validation.harness.report import table_in

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_table_is_the_committed_reports():
    readme = table_in((ROOT / "README.md").read_text())
    report = table_in((ROOT / "figures" / "REPORT.md").read_text())
    assert readme is not None, "README.md lacks the verdict-table markers"
    assert report is not None, "figures/REPORT.md lacks the verdict table: rerun `make validate`"
    assert readme == report, "run `fedtheory report --out figures --readme README.md` after `make validate`"


def test_the_table_lists_every_claim_once():
    table = table_in((ROOT / "README.md").read_text())
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    ids = [row.split("`")[1] for row in rows]
    assert sorted(ids) == sorted(CLAIMS) and len(ids) == len(set(ids))
