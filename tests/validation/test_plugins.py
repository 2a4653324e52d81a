"""A claim in another package, registered through the `fedtheory.claims` entry point: the README's example, as is."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    """A site folder holding `mypackage` (the README's example claim) and its entry-point metadata."""
    text = README.read_text()
    section = text[text.index("## A claim of your own"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    site = tmp_path_factory.mktemp("site")
    (site / "mypackage").mkdir()
    (site / "mypackage" / "__init__.py").write_text("")
    (site / "mypackage" / "claims.py").write_text(code)
    info = site / "mypackage-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mypackage\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text('[fedtheory.claims]\nmine = mypackage.claims\n')
    assert len(code.splitlines()) <= 50  # "about 30 lines" of claim, plus imports and blank lines
    return site


def _fedtheory(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "fedtheory", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_the_plugin_shows_up_in_the_list(plugin):
    out = _fedtheory(plugin, "list", "mine")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "mine.mean_of_m" in out.stdout and "The MSE of a mean is σ²/m" in out.stdout


def test_the_plugin_runs_on_a_process_pool_and_agrees(plugin, tmp_path):
    out = _fedtheory(plugin, "validate", "mine", "--jobs", "2", "--out", str(tmp_path), "--no-progress")
    assert out.returncode == 0, out.stderr[-2000:]
    assert re.search(r"mine\.mean_of_m\s+agrees", out.stdout), out.stdout
    assert (tmp_path / "mine" / "mean_of_m.png").exists() and "mine.mean_of_m" in (tmp_path / "REPORT.md").read_text()


def test_a_broken_plugin_is_named(plugin, tmp_path):
    bad = tmp_path / "site"
    (bad / "broken-0.1.dist-info").mkdir(parents=True)
    (bad / "broken-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (bad / "broken-0.1.dist-info" / "entry_points.txt").write_text("[fedtheory.claims]\nbroken = no_such_module\n")
    out = _fedtheory(bad, "list")
    assert out.returncode == 2 and out.stderr.startswith("fedtheory: error: claims plug-in 'broken' (no_such_module)")
