"""Closed forms, bounds and rates of the seed papers (numpy/scipy only; never imports torch).

Modules are named after their subject: :mod:`fedtheory.theory.personalization` (λ* and the MSE bounds of
Byzantine-robust personalized FL), :mod:`fedtheory.theory.robust_aggregation` (κ of each robust rule),
:mod:`fedtheory.theory.portfolio` (mixing a global and a local predictor: PromptFolio's θ*, shared with λ*)
:mod:`fedtheory.theory.feature_learning` (signal learning vs noise memorization of a prompt),
:mod:`fedtheory.theory.dp_lora` (DP noise on LoRA factors, coupling, the smoothing filter, the sensing rate),
:mod:`fedtheory.theory.privacy` (ε and σ through opacus' accountants, imported only when called),
:mod:`fedtheory.theory.proximal` (SVT and soft thresholding, their optimality conditions and KKT residuals,
a reference FISTA solver: FedSLR), :mod:`fedtheory.theory.communication` (floats sent as low-rank factors) and
:mod:`fedtheory.theory.private_personalization` (λ* when the shared estimates are DP releases and some clients
Byzantine: beyond the seed papers).
"""

from .communication import break_even_rank, downlink_floats, factored_floats, uplink_floats
from .feature_learning import (
    coefficient_ratio,
    noise_rate,
    signal_rate,
    snr,
    stage1_correlation,
    stage1_margin,
    stage1_sharpe_global,
    stage1_sharpe_local,
    stage1_theta_star,
)
from .personalization import (
    expected_heterogeneity,
    lambda_star_classification,
    lambda_star_mean,
    mse_bound_at_lambda_star,
    personalized_mse_bound,
    personalized_mse_exact,
)
from .portfolio import (
    gaussian_accuracy,
    max_sharpe_ratio,
    minimum_risk_weight,
    portfolio_accuracy,
    portfolio_return,
    portfolio_risk,
    sharpe_ratio,
    theta_star,
)
from .private_personalization import lambda_star_private_mean, private_mse_bound, private_mse_exact, release_noise2
from .proximal import (
    l1_kkt_residual,
    nuclear_kkt_residual,
    nuclear_norm,
    prox_gradient_l1,
    prox_gradient_nuclear,
    singular_value_threshold,
    soft_threshold,
)
from .robust_aggregation import (
    kappa_geometric_median,
    kappa_krum,
    kappa_lower_bound,
    kappa_median,
    kappa_nnm,
    kappa_of,
    kappa_trimmed_mean,
)

__all__ = [
    "lambda_star_private_mean",
    "private_mse_bound",
    "private_mse_exact",
    "release_noise2",
    "break_even_rank",
    "downlink_floats",
    "factored_floats",
    "uplink_floats",
    "l1_kkt_residual",
    "nuclear_kkt_residual",
    "nuclear_norm",
    "prox_gradient_l1",
    "prox_gradient_nuclear",
    "singular_value_threshold",
    "soft_threshold",
    "coefficient_ratio",
    "noise_rate",
    "signal_rate",
    "snr",
    "stage1_correlation",
    "stage1_margin",
    "stage1_sharpe_global",
    "stage1_sharpe_local",
    "stage1_theta_star",
    "gaussian_accuracy",
    "max_sharpe_ratio",
    "minimum_risk_weight",
    "portfolio_accuracy",
    "portfolio_return",
    "portfolio_risk",
    "sharpe_ratio",
    "theta_star",
    "expected_heterogeneity",
    "lambda_star_classification",
    "lambda_star_mean",
    "mse_bound_at_lambda_star",
    "personalized_mse_bound",
    "personalized_mse_exact",
    "kappa_geometric_median",
    "kappa_krum",
    "kappa_lower_bound",
    "kappa_median",
    "kappa_nnm",
    "kappa_of",
    "kappa_trimmed_mean",
]
