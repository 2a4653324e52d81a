"""The Markdown report: every claim with its verdict, numbers and figure."""

from __future__ import annotations

import os
import time
from pathlib import Path

from .claims import CLAIMS
from .records import ClaimResult, Verdict

_BADGE = {
    Verdict.AGREES: "✅ agrees",
    Verdict.BOUND_HOLDS: "✅ bound-holds",
    Verdict.QUALITATIVE: "🟡 qualitative",
    Verdict.VACUOUS: "⚪ vacuous",
    Verdict.DISAGREES: "❌ disagrees",
    Verdict.BOUND_VIOLATED: "❌ bound-violated",
}


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list) and len(v) <= 6:
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    return str(v)


def _seeds(seeds: list[int]) -> str:
    """'5 (0–4)' for a contiguous run of seeds, else the count and the list's ends."""
    if not seeds:
        return "-"
    if len(seeds) == 1:
        return f"1 ({seeds[0]})"
    return f"{len(seeds)} ({seeds[0]}–{seeds[-1]})"


def write_report(results: list[ClaimResult], out_dir: Path) -> Path:
    """Write ``out_dir/REPORT.md`` and return its path."""
    out_dir = Path(out_dir)
    lines = [
        "# fedtheory validation report",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')}. Verdicts: agrees / disagrees (a prediction),"
        " bound-holds / bound-violated (an upper bound), qualitative (only the trend agrees or is claimed),"
        " vacuous (a bound that says nothing here). A disagreement is a finding, not a software failure.",
        "",
        "| claim | verdict | budget | seeds | commit |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| `{r.claim_id}` | {_BADGE[r.verdict]} | {r.budget} | {_seeds(r.seeds)} | {r.git_hash or '-'} |")
    for r in results:
        claim = CLAIMS.get(r.claim_id)
        lines += ["", f"## `{r.claim_id}` — {_BADGE[r.verdict]}", ""]
        if claim is not None:
            lines += [f"**{claim.title}.** {claim.statement}", ""]
        lines += [r.message, ""]
        if r.summary:
            lines += ["| quantity | value |", "|---|---|"]
            lines += [f"| {k} | {_fmt(v)} |" for k, v in r.summary.items()]
            lines.append("")
        for fig in ([r.figure] if r.figure else []) + list(r.extra_figures):
            lines += [f"![{r.claim_id}]({os.path.relpath(fig, out_dir)})", ""]
    path = out_dir / "REPORT.md"
    path.write_text("\n".join(lines) + "\n")
    return path
