"""Every public closed form carries its provenance as data: ``fn.provenance`` and ``fn.source``."""

import importlib
import inspect
import pkgutil
import re

import pytest

import fedtheory.theory as theory
from fedtheory.theory._checks import PROVENANCE_TAGS, provenance
from fedtheory.theory.robust_aggregation import PROVENANCE

MODULES = [importlib.import_module(f"{theory.__name__}.{m.name}")
           for m in pkgutil.iter_modules(theory.__path__) if not m.name.startswith("_")]


def public_functions():
    """(module, name, function) for every public function *defined* in each theory module."""
    return [(mod, name, fn) for mod in MODULES for name, fn in inspect.getmembers(mod, inspect.isfunction)
            if not name.startswith("_") and fn.__module__ == mod.__name__]


FUNCTIONS = public_functions()
IDS = [f"{m.__name__.rsplit('.', 1)[1]}.{n}" for m, n, _ in FUNCTIONS]


def test_every_module_is_enumerated():
    names = {m.__name__.rsplit(".", 1)[1] for m in MODULES}
    assert {"personalization", "robust_aggregation", "portfolio", "feature_learning", "dp_lora", "privacy"} <= names
    assert len(FUNCTIONS) >= 49  # 6 + 7 + 8 + 9 + 15 + 4 when this test was written


@pytest.mark.parametrize("mod, name, fn", FUNCTIONS, ids=IDS)
def test_public_function_has_provenance(mod, name, fn):
    assert getattr(fn, "provenance", None) in PROVENANCE_TAGS, f"{mod.__name__}.{name} has no valid provenance"
    assert isinstance(getattr(fn, "source", None), str) and fn.source.strip(), f"{mod.__name__}.{name} has no source"
    # the docstring states the tag too, in bold, so that the text and the data agree
    doc = inspect.getdoc(fn) or ""
    assert f"**{fn.provenance}**" in doc, f"{mod.__name__}.{name}: docstring does not state **{fn.provenance}**"


@pytest.mark.parametrize("mod, name, fn", FUNCTIONS, ids=IDS)
def test_docstrings_point_inside_the_repository(mod, name, fn):
    doc = inspect.getdoc(fn) or ""
    assert not re.search(r"\.\./|shared/reference|reference notes", doc), f"{mod.__name__}.{name} cites a file outside"


def test_module_docstrings_point_inside_the_repository():
    for mod in MODULES:
        assert not re.search(r"\.\./|shared/reference|reference notes", mod.__doc__ or ""), mod.__name__


def test_kappa_tags_agree_with_the_provenance_table():
    import fedtheory.theory.robust_aggregation as ra

    for rule, tag in PROVENANCE.items():
        assert getattr(ra, f"kappa_{rule}").provenance == tag


def test_decorator_returns_the_same_function_and_sets_attributes():
    def f(x, *, y=1):
        """Doc."""
        return x + y

    g = provenance("derived", "derived here")(f)
    assert g is f and g.provenance == "derived" and g.source == "derived here"
    assert inspect.signature(g) == inspect.signature(f) and g.__doc__ == "Doc." and g(1) == 2


@pytest.mark.parametrize("tag", ["Published", "guessed", "", None, 1])
def test_decorator_rejects_an_unknown_tag(tag):
    with pytest.raises(ValueError, match="tag"):
        provenance(tag, "somewhere")


@pytest.mark.parametrize("source", ["", "   ", None])
def test_decorator_rejects_an_empty_source(source):
    with pytest.raises(ValueError, match="source"):
        provenance("published", source)
