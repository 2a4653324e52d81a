"""Figure conventions shared by all claims.

Theory is a solid line; measurements are markers with a 95% band over seeds on the same axes;
predicted and empirical optima are marked. Every figure is saved as PNG with the per-seed CSV
and a JSON of its config beside it.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: figures are files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

plt.rcParams.update({"figure.dpi": 110, "font.size": 9, "axes.grid": True, "grid.alpha": 0.3, "pdf.fonttype": 42})

THEORY = dict(lw=1.8)


@dataclass
class Figure:
    """A figure a claim's ``draw`` made: saved by the runner as ``<out>/<paper>/<name>.png``.

    ``table`` (columns, written as CSV) and ``config`` (JSON) go beside the PNG.
    """

    name: str
    fig: Any
    table: dict | None = None
    config: dict | None = None

MEASURED = dict(marker="o", ms=3.5, lw=0, zorder=3)
BAND = dict(alpha=0.25, lw=0)


def plot_theory(ax, x, y, label: str, **kw):
    return ax.plot(x, y, label=label, **{**THEORY, **kw})


def plot_measured(ax, x, mean, lo, hi, label: str, color=None, line: bool = False):
    """Markers (or a thin line when dense) with a shaded band between ``lo`` and ``hi``."""
    style = dict(MEASURED)
    if line:
        style.update(marker=None, lw=1.0, ls="--")
    (h,) = ax.plot(x, mean, label=label, color=color, **style)
    ax.fill_between(x, lo, hi, color=h.get_color(), **BAND)
    return h


def plot_errorbars(ax, x, mean, lo, hi, label: str, color=None):
    yerr = np.vstack([np.asarray(mean) - lo, np.asarray(hi) - mean])
    return ax.errorbar(x, mean, yerr=yerr, fmt="o", ms=4, capsize=2.5, label=label, color=color, zorder=3)


def save(fig, path: Path, table: dict[str, np.ndarray] | None = None, config: dict | None = None) -> str:
    """Write ``path`` (.png) and, beside it, ``.csv`` (columns of ``table``) and ``.json`` (config)."""
    path = Path(path).with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    if table:
        cols = {k: np.ravel(np.asarray(v)) for k, v in table.items()}
        n = max(len(v) for v in cols.values())
        with open(path.with_suffix(".csv"), "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            for i in range(n):
                w.writerow([v[i] if i < len(v) else "" for v in cols.values()])
    if config is not None:
        path.with_suffix(".json").write_text(json.dumps(config, indent=2, sort_keys=True, default=str))
    return str(path)
