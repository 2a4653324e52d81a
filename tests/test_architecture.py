"""The house rules, as tests: one import name, dependencies that point one way, a CLI that starts without torch."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BARE = ("theory", "simulators", "validation")  # the folders; installed only as fedtheory.<name>
PAPER_SIMULATORS = ("byzantine", "promptfolio", "la_lora", "fedslr", "fedpft")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["fedtheory", *parts] if parts[0] in BARE else parts)


def _imports(path: Path) -> list[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved), at any depth."""
    tree = ast.parse(path.read_text(), str(path))
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append(mod)
            out += [f"{mod}.{a.name}" for a in node.names]  # `from pkg import module`
    return out


def _files(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py"))


ALL = _files("fedtheory", *BARE, "tests", "bench")


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_imports_the_bare_folder_names(path):
    bad = [m for m in _imports(path) if m.split(".")[0] in BARE]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: use fedtheory.{bad[0]}"


def _violations(folders: tuple[str, ...], forbidden) -> list[str]:
    return [f"{p.relative_to(ROOT)} imports {m}" for p in _files(*folders) for m in _imports(p) if forbidden(m)]


def test_theory_imports_no_torch_and_nothing_else_of_the_project():
    def forbidden(m):
        return m.split(".")[0] == "torch" or (m.startswith("fedtheory.") and not m.startswith("fedtheory.theory"))

    assert not _violations(("theory",), forbidden)


def test_simulators_never_import_validation_or_the_cli():
    assert not _violations(("simulators",), lambda m: m.startswith(("fedtheory.validation", "fedtheory.cli")))


def test_shared_parts_and_the_data_layer_import_no_paper_simulator():
    papers = tuple(f"fedtheory.simulators.{p}" for p in PAPER_SIMULATORS)
    assert not _violations(("simulators/shared", "simulators/data"), lambda m: m.startswith(papers))


def test_the_harness_imports_no_paper_module():
    assert not _violations(("validation/harness",), lambda m: m.startswith("fedtheory.validation.papers."))


def test_only_the_cli_imports_the_claims():
    package = [p for p in _files("fedtheory", *BARE) if p != ROOT / "fedtheory" / "cli.py"
               and not p.is_relative_to(ROOT / "validation" / "papers")]
    bad = [f"{p.relative_to(ROOT)} imports {m}" for p in package for m in _imports(p)
           if m.startswith("fedtheory.validation.papers.")]
    assert not bad


@pytest.mark.parametrize("argv", [["--help"], ["data", "--help"]])
def test_help_and_data_start_without_torch(argv):
    code = ("import sys\nfrom fedtheory.cli import main\ntry:\n    main(%r)\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'matplotlib', 'transformers') if m in sys.modules]\n"
            "assert not heavy, heavy\n") % (argv,)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


def test_the_package_has_one_import_name():
    import re

    import fedtheory

    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert fedtheory.__version__ == version
    import fedtheory.simulators.shared.aggregators as agg
    import fedtheory.theory.personalization as pers

    assert Path(pers.__file__).parent == ROOT / "theory" and Path(agg.__file__).parent == ROOT / "simulators" / "shared"
