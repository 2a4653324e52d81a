"""Input validation shared by the closed forms.

Every public theory function converts its inputs with these helpers so that bad input
fails loudly with a ``ValueError`` that names the parameter and its allowed range,
instead of propagating a NaN or silently clamping: :func:`as_float_array` (numbers, finite),
:func:`check_range` (an interval, integers, scalars; arrays broadcast), :func:`check_scalar` (one
Python number in an interval, in the style of scikit-learn's ``check_scalar``: ``TypeError`` for a
wrong type, ``ValueError`` naming the parameter and its range; the simulators' configs use it),
:func:`check_n_f` (client counts),
:func:`check_choice` (a named option) and :func:`check_bool` (a flag). Results go through
:func:`check_representable`: a formula whose intermediate overflows is computed in a stable form
(:func:`where_finite`, :func:`stable_product`, exact rescaling by powers of 2) and a result that
float64 cannot hold raises a ``ValueError`` naming the input responsible and its representable range.
:func:`provenance` records each closed form's provenance tag and source on the function.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

_FLOAT_MAX = float(np.finfo(float).max)


def as_float_array(name: str, value: ArrayLike) -> np.ndarray:
    """Convert ``value`` to a float array and reject NaN/inf.

    Not numeric (``ValueError`` "<name> must be numeric"): None, a string or bytes (even one that
    reads as a number, such as ``"1.5"``), a complex number. An integer beyond float64's range
    (|x| > 1.8e308) is rejected as not finite.
    """
    text = isinstance(value, (str, bytes)) or (isinstance(value, np.ndarray) and value.dtype.kind in "USV")
    if value is None or text:
        raise ValueError(f"{name} must be numeric, got {value!r}")
    try:
        arr = np.asarray(value, dtype=float)
    except OverflowError as exc:  # a Python int too large for float64
        raise ValueError(f"{name} must be finite (|{name}| <= {_FLOAT_MAX:.4g}), got {value!r}") from exc
    except (TypeError, ValueError) as exc:  # e.g. a string, a complex number
        raise ValueError(f"{name} must be numeric, got {value!r}") from exc
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf), got {value!r}")
    return arr


def interval(low: float | None, high: float | None, low_open: bool = False, high_open: bool = False) -> str:
    """The interval as the error messages print it, e.g. ``[0, 1)`` or ``(0, inf)``."""
    lb, rb = "(" if low_open or low is None else "[", ")" if high_open or high is None else "]"
    return f"{lb}{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}{rb}"


def _outside(x, low, high, low_open, high_open):
    lo_bad = (x <= low) if (low is not None and low_open) else (x < low) if low is not None else False
    hi_bad = (x >= high) if (high is not None and high_open) else (x > high) if high is not None else False
    return np.logical_or(lo_bad, hi_bad)


def check_range(
    name: str,
    value: ArrayLike,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    scalar: bool = False,
) -> np.ndarray:
    """Return ``value`` as a float array after checking it lies in the stated interval.

    ``scalar=True`` also requires a single number (a 0-d array), for parameters that cannot broadcast.
    """
    arr = as_float_array(name, value)
    if scalar and arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got an array of shape {arr.shape}")
    if np.any(_outside(arr, low, high, low_open, high_open)):
        raise ValueError(f"{name} must lie in {interval(low, high, low_open, high_open)}, got {value!r}")
    if integer and np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return arr


def check_scalar(
    name: str,
    value,
    target_type: type = float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
):
    """Check one Python (or numpy) number and return it as ``target_type`` (``int`` or ``float``).

    ``TypeError`` when ``value`` is not a number of that type: a bool, a string, None, or for
    ``int`` a float (even ``2.0``). ``ValueError`` naming ``name`` and the allowed interval when it
    lies outside ``[low, high]`` (``low_open``/``high_open`` exclude the bounds), and for NaN, and
    for ±inf unless ``allow_inf`` (e.g. ``alpha = inf`` for IID proportions).
    """
    if target_type not in (int, float):
        raise ValueError(f"target_type must be int or float, got {target_type!r}")
    kinds = (int, np.integer) if target_type is int else (int, float, np.integer, np.floating)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, kinds):
        what = "an integer" if target_type is int else "a real number"
        raise TypeError(f"{name} must be {what}, got {value!r} of type {type(value).__name__}")
    try:
        x = target_type(value)
    except OverflowError:  # a Python int beyond float64
        raise ValueError(f"{name} must be finite (|{name}| <= {_FLOAT_MAX:.4g}), got {value!r}") from None
    if target_type is float and (math.isnan(x) or (math.isinf(x) and not allow_inf)):
        raise ValueError(f"{name} must be finite (no NaN or inf) in {interval(low, high, low_open, high_open)}, "
                         f"got {value!r}")
    if _outside(x, low, high, low_open, high_open):
        raise ValueError(f"{name} must lie in {interval(low, high, low_open, high_open)}, got {value!r}")
    return x


def check_n_f(n: ArrayLike, f: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Check the client counts: integers with ``n >= 1`` and ``0 <= f < n/2``."""
    n_arr = check_range("n", n, low=1, integer=True)
    f_arr = check_range("f", f, low=0, integer=True)
    if np.any(2 * f_arr >= n_arr):
        raise ValueError(f"f must satisfy 0 <= f < n/2 (a Byzantine minority), got f={f!r}, n={n!r}")
    return n_arr, f_arr


def check_choice(name: str, value, choices) -> str:
    """Check that ``value`` is one of the strings ``choices`` (a non-string never is)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_bool(name: str, value) -> bool:
    """Check that ``value`` is a boolean flag (True/False or a numpy bool), not a number or a string."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def stable_product(const: ArrayLike, *factors: tuple[ArrayLike, float]) -> np.ndarray:
    """``const · Π x**a`` over the ``(x, a)`` pairs, without spurious over- or underflow.

    Each x is split as mantissa·2^e (``np.frexp``); the mantissas' powers are multiplied (they stay
    within a few powers of 2 of 1) and the exponents summed, and ``np.ldexp`` applies the total
    once, so the product overflows (to ±inf) only when its value does. Exponents are integers or
    halves (x ≥ 0 then). The callers use it where the direct formula overflows in an intermediate
    (a square, a product of large factors); elsewhere they keep the direct formula, bit for bit.
    """
    mant = np.asarray(const, dtype=float)
    expo = np.zeros((), dtype=np.int64)
    for x, a in factors:
        m, e = np.frexp(np.asarray(x, dtype=float))
        e = e.astype(np.int64)
        if a != int(a):  # a half-integer power: make the exponent even so that a·e is an integer
            odd = (e % 2) != 0
            m, e = np.where(odd, 2.0 * m, m), np.where(odd, e - 1, e)
        mant = mant * m**a
        expo = expo + (np.rint(a * e)).astype(np.int64)
    expo = np.clip(expo, -100_000, 100_000)  # ldexp saturates to 0 or inf long before
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(mant, expo.astype(np.int32))


def where_finite(direct: ArrayLike, stable: Callable[[], ArrayLike]) -> np.ndarray:
    """``direct`` where it is finite, else ``stable()``: the stable form only where the direct one overflows."""
    direct = np.asarray(direct, dtype=float)
    if np.all(np.isfinite(direct)):
        return direct
    return np.where(np.isfinite(direct), direct, np.asarray(stable(), dtype=float))


def check_representable(what: str, formula: Callable[..., ArrayLike], *, elementwise: bool = True,
                         **inputs) -> np.ndarray:
    """Evaluate ``formula(**inputs)`` and return it if every entry is finite (representable in float64).

    Inputs are the *validated* (finite) arguments, so a NaN or ±inf can only come from an
    intermediate or the result overflowing. If the result does genuinely overflow, raise a
    ``ValueError`` that names the input responsible and the range in which the result is
    representable, the other inputs held as given: at the first non-finite entry, an input is
    responsible if setting it to 1 makes the result finite, and its bound is found by bisection on
    log|x| between 1 and its value. ``what`` is the formula as the message should print it.
    ``elementwise=False`` for formulas that are not entrywise in their inputs (matrix products):
    then only scalar inputs are candidates, and array inputs are reported by shape and magnitude.
    Callers must compute overflowing intermediates in a stable form first; this helper is for
    results that float64 cannot hold.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        value = np.asarray(formula(**inputs), dtype=float)
    if np.all(np.isfinite(value)):
        return value
    raise ValueError(_overflow_message(what, formula, value, inputs, elementwise))


def _overflow_message(what: str, formula, value: np.ndarray, inputs: dict, elementwise: bool) -> str:
    idx = tuple(np.argwhere(~np.isfinite(value))[0]) if value.ndim else ()
    point = {}
    for k, v in inputs.items():  # the inputs at the first non-finite entry
        a = np.asarray(v, dtype=float)
        if a.ndim == 0:
            point[k] = np.float64(a)  # numpy scalars overflow to inf where Python floats raise
        elif elementwise:
            point[k] = np.float64(np.broadcast_to(a, value.shape)[idx])
        else:  # an input that does not enter entrywise (a matrix): keep it whole
            point[k] = a

    def finite_at(k, x):
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                return bool(np.all(np.isfinite(np.asarray(formula(**{**point, k: np.float64(x)}), dtype=float))))
        except (ValueError, ArithmeticError):
            return False

    scalars = {k: x for k, x in point.items() if np.ndim(x) == 0 and x not in (0.0, 1.0, -1.0)}
    culprits = [k for k, x in scalars.items() if finite_at(k, float(np.sign(x)))]
    at = ", ".join(f"{k}={_fmt(x)}" for k, x in point.items())
    if not culprits:
        return f"{what} overflows float64 (|value| > {_FLOAT_MAX:.4g}) at {at}; reduce the inputs' magnitudes"
    k = max(culprits, key=lambda c: abs(np.log(abs(scalars[c]))))
    x = scalars[k]
    lo, hi = 0.0, float(np.log(abs(x)))  # finite at log|x| = lo (x = ±1), not at hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if finite_at(k, float(np.sign(x) * np.exp(mid))) else (lo, mid)
    bound = float(np.exp(lo))
    rng = f"|{k}| <= {bound:.6g}" if abs(x) > 1 else f"|{k}| >= {bound:.6g}"
    return (f"{k} is out of range: {what} overflows float64 (|value| > {_FLOAT_MAX:.4g}) at {at}; "
            f"with the other inputs as given it is representable for {rng}")


def _fmt(x) -> str:
    if np.ndim(x) == 0:
        return f"{float(x):.6g}"
    return f"an array of shape {np.shape(x)} with max |entry| {float(np.max(np.abs(x))) if np.size(x) else 0.0:.6g}"


def scalar_or_array(x: np.ndarray) -> np.ndarray | float:
    """Return a Python float for 0-d results so scalar calls read naturally."""
    return float(x) if np.ndim(x) == 0 else x


#: The provenance tags of a closed form (README): as printed, derived here, or our reconstruction.
PROVENANCE_TAGS = ("published", "derived", "reconstructed")


def provenance(tag: str, source: str):
    """Decorator recording where a closed form comes from, as data on the function itself.

    Sets ``fn.provenance = tag`` (one of :data:`PROVENANCE_TAGS`) and ``fn.source = source`` (a
    short citation resolvable inside the repository: paper and equation/theorem/section) and
    returns the same function object, so its signature, docstring and behaviour are unchanged.
    The validation harness reads both attributes into each verdict's "rests on" line.
    """
    if not isinstance(tag, str) or tag not in PROVENANCE_TAGS:
        raise ValueError(f"tag must be one of {PROVENANCE_TAGS}, got {tag!r}")
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"source must be a non-empty string, got {source!r}")

    def mark(fn):
        fn.provenance = tag
        fn.source = source
        return fn

    return mark
