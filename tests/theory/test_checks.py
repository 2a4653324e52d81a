"""The one input-validation helper: check_scalar (scalars, TypeError/ValueError) and its shared wording."""

import math

import numpy as np
import pytest

from fedtheory.theory._checks import check_range, check_scalar, interval


@pytest.mark.parametrize("value, target, expected", [
    (3, int, 3), (np.int64(3), int, 3), (2, float, 2.0), (np.float32(0.5), float, 0.5), (1e300, float, 1e300),
])
def test_accepts_numbers_of_the_type(value, target, expected):
    out = check_scalar("x", value, target)
    assert out == expected and type(out) is target


@pytest.mark.parametrize("value, target", [
    (True, int), (np.bool_(False), float), ("3", int), ("0.5", float), (None, float), (2.0, int),
    (1 + 2j, float), ([1], int),
])
def test_wrong_type_is_a_type_error_naming_the_parameter(value, target):
    with pytest.raises(TypeError, match="^lr must be (an integer|a real number), got"):
        check_scalar("lr", value, target)


@pytest.mark.parametrize("value, kwargs, shown", [
    (0, dict(low=0, low_open=True), "(0, inf)"),
    (1, dict(low=0, high=1, high_open=True), "[0, 1)"),
    (-1, dict(low=0), "[0, inf)"),
    (5, dict(high=4), "(-inf, 4]"),
])
def test_out_of_range_names_the_interval(value, kwargs, shown):
    with pytest.raises(ValueError) as err:
        check_scalar("q", value, **kwargs)
    assert str(err.value) == f"q must lie in {shown}, got {value!r}"
    # the array helper words a violation the same way
    with pytest.raises(ValueError) as err_arr:
        check_range("q", value, **kwargs)
    assert str(err_arr.value) == str(err.value)


def test_nan_and_inf():
    with pytest.raises(ValueError, match="finite"):
        check_scalar("alpha", math.nan, low=0, allow_inf=True)
    with pytest.raises(ValueError, match="finite"):
        check_scalar("alpha", math.inf, low=0)
    assert check_scalar("alpha", math.inf, low=0, low_open=True, allow_inf=True) == math.inf
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, inf\)"):
        check_scalar("alpha", -math.inf, low=0, low_open=True, allow_inf=True)


def test_bounds_inclusive_by_default():
    assert check_scalar("p", 0.0, low=0, high=1) == 0.0 and check_scalar("p", 1.0, low=0, high=1) == 1.0
    assert interval(None, None) == "(-inf, inf)" and interval(0, 1, True, False) == "(0, 1]"


def test_target_type_itself_is_checked():
    with pytest.raises(ValueError, match="target_type"):
        check_scalar("x", 1, complex)
