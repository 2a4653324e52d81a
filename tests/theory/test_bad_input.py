r"""Bad input, everywhere: a sweep of every public theory function, one parameter at a time.

Requirement. Called with arbitrary scalars (NaN, ±inf, ±1e±300, the float64 extremes, 0, negatives,
integers beyond float64, a string, None, a complex number), every public function of every
``fedtheory.theory`` module either

* returns finite numbers (a float, an array, a tuple or a dict of them), or
* raises ``TypeError``/``ValueError`` whose message names the offending parameter (as a word:
  ``"A"`` does not match ``"steps_A"``);

never another exception type, and never NaN or ±inf. The single documented exception is
:func:`fedtheory.theory.privacy.epsilon` at ``noise_multiplier=0``, which returns ε = ∞ on
purpose (no noise, no privacy; asserted by ``test_privacy.py``).

How. ``VALID`` below holds, per function, one valid call (keyword arguments). For each parameter
the sweep replaces it by every value of ``BAD`` (explicit hypothesis examples, always run) and by
hypothesis draws from ``BAD``, from all floats (NaN and ±inf included), from magnitudes 10^-320 …
10^308 of either sign and from integers; array parameters are also swept with the bad value placed
in one entry. ``test_valid_table_covers_every_public_function`` keeps the table complete.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import fedtheory.theory as theory

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")

BIG = 1.7976931348623157e308
BAD = [math.nan, math.inf, -math.inf, 1e300, -1e300, 1e-300, -1e-300, 5e-324, BIG, -BIG, 1e154, 1e-160,
       0, 0.0, -0.0, -1, -1.5, 0.5, 2.5, 10**400, -(10**400), "a", "1.5", "", None, 1j]

bad_scalars = st.one_of(
    st.sampled_from(BAD),
    st.floats(allow_nan=True, allow_infinity=True),
    st.builds(lambda sign, e, m: sign * m * 10.0**e, st.sampled_from([-1.0, 1.0]), st.integers(-320, 307),
              st.floats(1.0, 9.99)),
    st.integers(-(2**70), 2**70),
)

# --------------------------------------------------------------------------- one valid call per function
GRAD_W = np.array([[0.3, -1.2, 0.5], [0.8, 0.1, -0.4], [-0.6, 0.9, 0.2], [1.1, -0.3, 0.7]])  # m × n = 4 × 3
A = np.array([[1.0, 0.2, -0.5], [0.3, -0.8, 0.6]])  # r × n, full row rank
B = np.array([[0.5, -0.1], [0.2, 0.9], [-0.7, 0.4], [0.1, 0.3]])  # m × r, full column rank
LAM = {"sigma2": 1.0, "m": 10, "n": 10, "f": 2, "kappa": 0.5, "bias2": 0.5, "spread2": 0.3, "gamma": 1.0}
NOISE = {"m": 8, "n": 6, "r": 2, "norm_A2": 1.0, "norm_B2": 2.0}
SENSING = {"eta": 0.2, "delta_r": 0.1, "n": 4, "reading": "published"}
ACCOUNT = {"sample_rate": 0.01, "steps": 100, "delta": 1e-5}
Y_MAT = np.array([[2.0, 0.5], [0.3, -1.0], [0.1, 0.4]])  # 3 × 2, rank 2
X_MAT = np.array([[1.5, 0.0], [0.0, 0.0], [0.0, 0.0]])  # rank 1
VEC = np.array([0.8, -0.2, 0.0, 1.5])
TRAJ = np.array([[0.5, -0.2], [0.3, 0.1], [0.1, 0.05]])  # k = 3 iterates in d = 2
SQ = np.array([[0.6, -0.1], [0.2, 0.4]])  # d × d
XS = np.array([[0.3, -0.5], [0.1, 0.2], [-0.4, 0.6]])  # S × d = 3 × 2
FFN_IN = np.array([[0.3, -0.5], [0.1, 0.2], [-0.4, 0.6]])  # d_ff × d


def _grad_to_vec(x):
    """∇ of ½‖x − v‖² (minimiser: a soft threshold of v)."""
    return x - VEC[::-1]


def _grad_to_y(W):
    """∇ of ½‖W − Y‖² (the reference solver's test problem; its minimiser is an SVT of Y)."""
    return W - Y_MAT

#: case id -> (module, function name, valid keyword arguments, max_examples of the hypothesis part).
VALID: dict[str, tuple[str, str, dict, int]] = {
    # personalization
    "personalized_mse_exact": ("personalization", "personalized_mse_exact",
                               {"lam": 0.5, "sigma2": 1.0, "m": 10, "n": 10, "f": 2, "bias2": 0.5}, 100),
    "personalized_mse_bound": ("personalization", "personalized_mse_bound", {"lam": 0.5, **LAM}, 100),
    "personalized_mse_bound[gamma=None]": ("personalization", "personalized_mse_bound",
                                           {"lam": 0.5, **LAM, "gamma": None}, 60),
    "lambda_star_mean": ("personalization", "lambda_star_mean", LAM, 100),
    "mse_bound_at_lambda_star": ("personalization", "mse_bound_at_lambda_star", LAM, 100),
    "expected_heterogeneity": ("personalization", "expected_heterogeneity", {"sigma_h2": 1.0, "n": 10, "f": 2}, 100),
    "lambda_star_classification": ("personalization", "lambda_star_classification",
                                   {"pdim": 10.0, "m": 100, "phi": 0.1, "f": 2, "n": 10, "G2": 1.0}, 100),
    # robust aggregation
    **{f"kappa_{r}": ("robust_aggregation", f"kappa_{r}", {"n": 10, "f": 2}, 100)
       for r in ("lower_bound", "trimmed_mean", "median", "geometric_median", "krum")},
    "kappa_nnm": ("robust_aggregation", "kappa_nnm", {"n": 10, "f": 2, "kappa_inner": 1.0}, 100),
    "kappa_of": ("robust_aggregation", "kappa_of", {"rule": "nnm+clip+trimmed_mean", "n": 10, "f": 2}, 100),
    # portfolio
    "minimum_risk_weight": ("portfolio", "minimum_risk_weight", {"risk_a": 1.0, "risk_b": 2.0, "cov": 0.3}, 100),
    "portfolio_return": ("portfolio", "portfolio_return", {"theta": 0.3, "m_global": 1.0, "m_local": 0.8}, 100),
    "portfolio_risk": ("portfolio", "portfolio_risk",
                       {"theta": 0.3, "s_global": 1.0, "s_local": 1.5, "rho": -0.2}, 100),
    "sharpe_ratio": ("portfolio", "sharpe_ratio", {"m": 1.0, "s": 2.0}, 100),
    "gaussian_accuracy": ("portfolio", "gaussian_accuracy", {"m": 1.0, "s": 2.0}, 100),
    "portfolio_accuracy": ("portfolio", "portfolio_accuracy", {"theta": 0.3, "m_global": 1.0, "m_local": 0.8,
                                                               "s_global": 1.0, "s_local": 1.5, "rho": 0.2}, 100),
    "theta_star": ("portfolio", "theta_star", {"m_global": 1.0, "m_local": 0.8, "s_global": 1.0, "s_local": 1.5,
                                               "rho": 0.2, "constrained": True}, 100),
    "theta_star[unconstrained]": ("portfolio", "theta_star", {"m_global": 1.0, "m_local": 0.8, "s_global": 1.0,
                                                              "s_local": 1.5, "rho": 0.2, "constrained": False}, 60),
    "max_sharpe_ratio": ("portfolio", "max_sharpe_ratio", {"sharpe_global": 1.0, "sharpe_local": 0.5, "rho": 0.2}, 100),
    # feature learning
    "snr": ("feature_learning", "snr", {"mu_norm": 1.0, "sigma_p": 0.5, "d": 100}, 100),
    "signal_rate": ("feature_learning", "signal_rate", {"eta": 0.1, "mu_norm": 1.0}, 100),
    "noise_rate": ("feature_learning", "noise_rate", {"eta": 0.1, "sigma_p": 0.5, "d": 100, "m": 20}, 100),
    "coefficient_ratio": ("feature_learning", "coefficient_ratio", {"m": 20, "snr_value": 0.1}, 100),
    "stage1_margin": ("feature_learning", "stage1_margin",
                      {"t": 10.0, "eta": 0.1, "mu_norm": 1.0, "sigma_p": 0.5, "d": 100, "m": 20}, 100),
    "stage1_sharpe_local": ("feature_learning", "stage1_sharpe_local", {"m": 20, "d": 100, "snr_value": 0.1}, 100),
    "stage1_sharpe_global": ("feature_learning", "stage1_sharpe_global",
                             {"m": 20, "d": 100, "snr_value": 0.1, "n": 5, "h": 0.3}, 100),
    "stage1_correlation": ("feature_learning", "stage1_correlation", {"n": 5}, 100),
    "stage1_theta_star": ("feature_learning", "stage1_theta_star", {"n": 5, "h": 0.3}, 100),
    # DP on LoRA factors
    "noise_term_norms2": ("dp_lora", "noise_term_norms2", {"sigma": 0.5, **NOISE}, 100),
    "full_model_noise_norm2": ("dp_lora", "full_model_noise_norm2", {"sigma": 0.5, "m": 8, "n": 6}, 100),
    "crossover_sigma": ("dp_lora", "crossover_sigma", {"r": 4}, 100),
    "effective_sigma": ("dp_lora", "effective_sigma", {"noise_multiplier": 1.0, "clip": 1.0, "batch_size": 32}, 100),
    "accumulated_noise_norms2": ("dp_lora", "accumulated_noise_norms2",
                                 {"eta_sigma": 0.05, **NOISE, "steps_B": 3, "steps_A": 2}, 100),
    "noisy_updates": ("dp_lora", "noisy_updates", {"method": "la_lora", "steps": 5}, 100),
    "lora_gradients": ("dp_lora", "lora_gradients", {"grad_W": GRAD_W, "A": A, "B": B, "s": 1.0}, 60),
    "projected_gradients": ("dp_lora", "projected_gradients", {"grad_W": GRAD_W, "A": A, "B": B, "s": 1.0}, 60),
    "simultaneous_second_order_term": ("dp_lora", "simultaneous_second_order_term",
                                       {"grad_W": GRAD_W, "A": A, "B": B, "eta": 0.1, "s": 1.0, "projected": True}, 60),
    "smoothing_response": ("dp_lora", "smoothing_response", {"omega": 0.5}, 100),
    "smoothing_variance_factor": ("dp_lora", "smoothing_variance_factor", {}, 1),
    "smoothing_autocorrelation": ("dp_lora", "smoothing_autocorrelation", {"lag": 2}, 100),
    "sensing_step_limit": ("dp_lora", "sensing_step_limit", {"delta_r": 0.1, "n": 4}, 100),
    "sensing_rate": ("dp_lora", "sensing_rate", SENSING, 100),
    "sensing_contraction": ("dp_lora", "sensing_contraction", SENSING, 100),
    # proximal operators (FedSLR)
    "soft_threshold": ("proximal", "soft_threshold", {"x": VEC, "tau": 0.3}, 100),
    "singular_value_threshold": ("proximal", "singular_value_threshold", {"X": Y_MAT, "tau": 0.3}, 100),
    "nuclear_norm": ("proximal", "nuclear_norm", {"X": Y_MAT}, 60),
    "numerical_rank": ("proximal", "numerical_rank", {"X": Y_MAT, "rtol": 1e-10}, 60),
    "l1_subgradient_distance": ("proximal", "l1_subgradient_distance", {"p": VEC, "g": VEC, "tau": 0.3}, 100),
    "nuclear_subgradient_distance": ("proximal", "nuclear_subgradient_distance",
                                     {"X": X_MAT, "G": Y_MAT, "tau": 0.3, "rtol": 1e-10}, 60),
    "soft_threshold_residual": ("proximal", "soft_threshold_residual", {"x": VEC, "y": VEC, "tau": 0.3}, 100),
    "svt_residual": ("proximal", "svt_residual", {"X": X_MAT, "Y": Y_MAT, "tau": 0.3, "rtol": 1e-10}, 60),
    "l1_kkt_residual": ("proximal", "l1_kkt_residual", {"p": VEC, "grad": VEC, "weight": 0.3}, 100),
    "nuclear_kkt_residual": ("proximal", "nuclear_kkt_residual",
                             {"W": X_MAT, "grad": Y_MAT, "weight": 0.3, "rtol": 1e-10}, 60),
    "prox_gradient_nuclear": ("proximal", "prox_gradient_nuclear",
                              {"grad": _grad_to_y, "W0": X_MAT, "lipschitz": 1.0, "weight": 0.3, "tol": 1e-12,
                               "max_iter": 50}, 30),
    "prox_gradient_l1": ("proximal", "prox_gradient_l1",
                         {"grad": _grad_to_vec, "x0": VEC, "lipschitz": 1.0, "weight": 0.3, "tol": 1e-12,
                          "max_iter": 50}, 30),
    # proxy sub-model fine-tuning (FedPFT)
    "gradient_error_condition": ("proxy_tuning", "gradient_error_condition", {"grad_error": VEC * 0.1, "grad": VEC}, 100),
    "alignment_margin": ("proxy_tuning", "alignment_margin",
                         {"grad_error": TRAJ * 0.1, "x": TRAJ, "x_star": np.zeros(2), "eta": 0.5}, 60),
    "alignment_margin_derived": ("proxy_tuning", "alignment_margin_derived",
                                 {"grad_error": TRAJ * 0.1, "x": TRAJ, "x_star": np.zeros(2)}, 60),
    "proxy_rate_bound": ("proxy_tuning", "proxy_rate_bound", {"distance0_sq": 2.0, "eta": 0.5, "k": 10}, 100),
    "descent_bound": ("proxy_tuning", "descent_bound", {"f_x": 1.0, "grad": VEC, "grad_error": VEC * 0.1, "eta": 0.5}, 100),
    "descent_bound_derived": ("proxy_tuning", "descent_bound_derived",
                              {"f_x": 1.0, "grad": VEC, "grad_error": VEC * 0.1, "eta": 0.5}, 100),
    "step_bound": ("proxy_tuning", "step_bound", {"f_star": 0.0, "x": VEC, "x_next": VEC * 0.5, "x_star": VEC * 0,
                                                  "grad_error": VEC * 0.1, "eta": 0.5}, 60),
    "step_bound_derived": ("proxy_tuning", "step_bound_derived",
                           {"f_star": 0.0, "x": VEC, "x_next": VEC * 0.5, "x_star": VEC * 0, "grad_error": VEC * 0.1,
                            "eta": 0.5}, 60),
    "linear_transformer_grads": ("proxy_tuning", "linear_transformer_grads",
                                 {"x": XS, "A": SQ, "B": SQ.T, "C": SQ * 2, "target": XS * 0.5}, 40),
    "gradient_gap_bounds": ("proxy_tuning", "gradient_gap_bounds",
                            {"x": XS, "A": SQ, "B": SQ.T, "C": SQ * 2, "C_proxy": SQ, "target": XS * 0.5,
                             "L3": 1.0}, 40),
    "saliency": ("proxy_tuning", "saliency", {"w_in": FFN_IN, "w_out": FFN_IN.T * 2}, 60),
    "apoz": ("proxy_tuning", "apoz", {"activations": FFN_IN, "threshold": 0.0}, 60),
    "apoz_nonpositive": ("proxy_tuning", "apoz_nonpositive", {"activations": FFN_IN}, 60),
    # cost model (FedPFT §3.6)
    "layer_flops": ("proxy_costs", "layer_flops", {"S": 64, "d": 384, "d_ff": 1536}, 100),
    "model_flops": ("proxy_costs", "model_flops", {"S": 64, "d": 384, "d_ff": np.array([1536, 384, 1536]),
                                                  "V": 30522, "c_f": 1.0, "c_b": 2.0}, 60),
    "model_floats": ("proxy_costs", "model_floats", {"S": 64, "d": 384, "d_ff": np.array([1536, 384, 1536]),
                                                    "V": 30522}, 60),
    "lora_round_floats": ("proxy_costs", "lora_round_floats", {"L": 6, "r": 8, "d": 384, "t": 10, "q": 0.5}, 100),
    "transformer_weight_count": ("proxy_costs", "transformer_weight_count",
                                 {"L": 12, "d": 768, "compressed": 10, "d_ff": 3072, "d_ff_compressed": 768}, 100),
    # communication counts (FedSLR)
    "factored_floats": ("communication", "factored_floats", {"m": 64, "n": 32, "k": 4}, 100),
    "break_even_rank": ("communication", "break_even_rank", {"m": 64, "n": 32}, 100),
    "downlink_floats": ("communication", "downlink_floats",
                        {"shapes": [(64, 32), (32, 10)], "ranks": np.array([4, 10]), "n_vector": 42}, 60),
    "uplink_floats": ("communication", "uplink_floats", {"shapes": [(64, 32), (32, 10)], "n_vector": 42}, 60),
    # privacy (opacus: few hypothesis examples on top of the explicit ones)
    "epsilon": ("privacy", "epsilon", {"noise_multiplier": 1.0, **ACCOUNT, "accountant": "rdp"}, 10),
    "epsilon[prv]": ("privacy", "epsilon", {"noise_multiplier": 1.0, **ACCOUNT, "accountant": "prv"}, 3),
    "noise_multiplier": ("privacy", "noise_multiplier", {"eps": 2.0, **ACCOUNT, "accountant": "rdp", "rtol": 1e-6}, 3),
    "analytic_gaussian_delta": ("privacy", "analytic_gaussian_delta", {"eps": 1.0, "sigma": 1.0}, 60),
    "analytic_gaussian_epsilon": ("privacy", "analytic_gaussian_epsilon", {"sigma": 1.0, "delta": 1e-5}, 30),
    "analytic_gaussian_sigma": ("privacy", "analytic_gaussian_sigma", {"eps": 1.0, "delta": 1e-5}, 30),
    # privacy × robustness × personalization
    "release_noise2": ("private_personalization", "release_noise2",
                       {"eps": 1.0, "delta": 1e-5, "clip": 1.0, "m": 10, "dim": 4}, 30),
    "private_mse_exact": ("private_personalization", "private_mse_exact",
                          {"lam": 0.5, "sigma2": 1.0, "m": 10, "n": 10, "f": 2, "bias2": 0.5, "noise2": 0.3,
                           "clipped_sigma2": 0.8, "cross_sigma2": 0.9}, 60),
    "private_mse_bound": ("private_personalization", "private_mse_bound",
                          {"lam": 0.5, **LAM, "noise2": 0.3, "clipped_sigma2": 0.8, "cross_sigma2": 0.9}, 60),
    "clipped_normal_moments": ("private_personalization", "clipped_normal_moments",
                               {"mu": 0.5, "sigma": 1.0, "clip": 2.0}, 60),
    "lambda_star_classification_private": ("private_personalization", "lambda_star_classification_private",
                                           {"pdim": 10.0, "m": 100, "phi": 0.1, "f": 2, "n": 10, "G2": 1.0,
                                            "noise_var": 0.01, "params": 10}, 60),
    "lambda_star_private_mean": ("private_personalization", "lambda_star_private_mean",
                                 {**LAM, "noise2": 0.3, "clipped_sigma2": 0.8, "cross_sigma2": 0.9}, 60),
}

#: Non-finite results that are correct by design: (function, parameter) -> predicate on the bad value.
NONFINITE_BY_DESIGN = {("epsilon", "noise_multiplier"): lambda v: v == 0}  # ε = ∞ without noise


def _fn(case):
    mod, name, _, _ = VALID[case]
    return getattr(importlib.import_module(f"fedtheory.theory.{mod}"), name)


def _cases():
    """(case, parameter, entry): every parameter of every valid call; entry=True puts the bad value in an array."""
    out = []
    for case, (_, _, kwargs, _) in VALID.items():
        for p, v in kwargs.items():
            out.append((case, p, False))
            if isinstance(v, np.ndarray):
                out.append((case, p, True))
    return out


CASES = _cases()


def _finite(out) -> bool:
    if isinstance(out, dict):
        return all(_finite(v) for v in out.values())
    if isinstance(out, (tuple, list)):
        return all(_finite(v) for v in out)
    return bool(np.all(np.isfinite(np.asarray(out, dtype=float))))


def _names(param: str):
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(param)}(?![A-Za-z0-9_])")


def check_call(fn, kwargs: dict, param: str, bad) -> None:
    """The requirement for one call: finite output, or TypeError/ValueError naming ``param``."""
    try:
        out = fn(**kwargs)
    except (TypeError, ValueError) as exc:
        assert _names(param).search(str(exc)), f"{fn.__name__}({param}={bad!r}): {type(exc).__name__} {exc} " \
                                               f"does not name {param!r}"
        return
    allowed = NONFINITE_BY_DESIGN.get((fn.__name__, param))
    if allowed is not None and not isinstance(bad, (str, type(None))) and allowed(bad):
        return
    assert _finite(out), f"{fn.__name__}({param}={bad!r}) returned non-finite {out!r}"


# --------------------------------------------------------------------------- the tests
def test_valid_table_covers_every_public_function():
    covered = {(mod, name) for mod, name, _, _ in VALID.values()}
    for m in pkgutil.iter_modules(theory.__path__):
        if m.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{theory.__name__}.{m.name}")
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if not name.startswith("_") and fn.__module__ == mod.__name__:
                assert (m.name, name) in covered, f"add a valid call of {m.name}.{name} to VALID"
                params = set(inspect.signature(fn).parameters)
                swept = set().union(*(kw for mm, nn, kw, _ in VALID.values() if (mm, nn) == (m.name, name)))
                assert params == swept, f"{m.name}.{name}: VALID sweeps {sorted(swept)}, signature has {sorted(params)}"


@pytest.mark.parametrize("case", list(VALID))
def test_valid_call_returns_finite_numbers(case):
    _, _, kwargs, _ = VALID[case]
    assert _finite(_fn(case)(**kwargs))


def _with_examples(test):
    for v in BAD:
        test = example(bad=v)(test)
    return test


@pytest.mark.parametrize("case, param, entry", CASES,
                         ids=[f"{c}-{p}{'[0]' if e else ''}" for c, p, e in CASES])
def test_bad_scalar(case, param, entry):
    fn = _fn(case)
    _, _, valid, n_examples = VALID[case]

    @settings(max_examples=n_examples, suppress_health_check=list(HealthCheck), deadline=None)
    @given(bad=bad_scalars)
    @_with_examples
    def sweep(bad):
        kwargs = dict(valid)
        if entry:  # the bad value in one entry of an otherwise valid array
            arr = np.array(valid[param], dtype=object)
            arr[(0,) * arr.ndim] = bad
            kwargs[param] = arr
        else:
            kwargs[param] = bad
        check_call(fn, kwargs, param, bad)

    sweep()
