r"""Personalized mean estimation with private releases and Byzantine clients, batched over seeds × ε.

The model of :mod:`fedtheory.theory.private_personalization`: ``c = n − f`` honest clients with fixed means
:math:`\mu_i = \mu + \sigma_h z_i` (z drawn once from ``population_seed``, so every run seed estimates the
same clients: the theory's expectation is conditional on the :math:`\mu_i`), each holding ``m`` samples
:math:`N(\mu_i, \sigma^2 I_d)`. Client i releases the mean of its samples clipped to the ball of radius C plus
:math:`N(0, \tau_\varepsilon^2 I_d)`, :math:`\tau_\varepsilon = (2C/m)\,\sigma_{\mathrm{AGM}}(\varepsilon, \delta)`
(ε = ∞: no noise); the Byzantine clients send attack vectors computed from the honest releases; the server
aggregates all n releases with a robust rule F; client i forms
:math:`\hat\theta_i(\lambda) = (1-\lambda)\bar x_i + \lambda F` with its own unclipped, noiseless mean.

As in :mod:`~fedtheory.simulators.byzantine.mean_estimation`, the squared error is the quadratic
:math:`a + 2\lambda b + \lambda^2 c` in λ; the coefficients come back per (seed, ε, client). Samples are drawn
individually (clipping acts per sample), as (S, h, m, d) tensors; every ε shares the samples of a seed and
differs only in the scale of one standard-normal noise draw (common random numbers across ε).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from fedtheory.simulators.shared import seeding
from fedtheory.simulators.shared.aggregators import make_aggregator
from fedtheory.simulators.shared.attacks import attack_against
from fedtheory.simulators.shared.config import check_n_f, check_scalar, check_seeds, require_ints
from fedtheory.theory.privacy import analytic_gaussian_sigma

__all__ = ["PrivateMeanConfig", "client_means", "release_std", "simulate_private_mean"]


@dataclass(frozen=True)
class PrivateMeanConfig:
    """Settings of private personalized mean estimation; ``eps`` is the ε grid (``math.inf``: no noise)."""

    n: int = 20
    f: int = 0
    m: int = 20
    d: int = 1
    sigma: float = 1.0
    sigma_h: float = 0.3
    mu: float = 0.5
    clip: float = 2.0
    delta: float = 1e-5
    eps: Sequence[float] = (0.1, 0.3, 1.0, 3.0, 10.0, math.inf)
    population_seed: int = 0
    attack: str = "sign_flipping"
    attack_params: dict = field(default_factory=dict)
    aggregator: str = "nnm+trimmed_mean"
    aggregator_params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_ints(self, {"n": 2, "f": 0, "m": 1, "d": 1, "population_seed": 0})
        check_n_f(self.n, self.f)
        check_scalar("sigma", self.sigma, low=0, low_open=True)
        check_scalar("sigma_h", self.sigma_h, low=0)
        check_scalar("mu", self.mu)
        check_scalar("clip", self.clip, low=0, low_open=True)
        check_scalar("delta", self.delta, low=0, high=1, low_open=True, high_open=True)
        if len(self.eps) == 0:
            raise ValueError("eps must hold at least one ε (> 0, or math.inf for no noise)")
        for e in self.eps:
            check_scalar("eps", e, low=0, low_open=True, allow_inf=True)


def release_std(cfg: PrivateMeanConfig) -> np.ndarray:
    """τ_ε per ε of the grid (E,): (2C/m)·σ_AGM(ε, δ), 0 for ε = ∞."""
    eps = np.asarray(cfg.eps, dtype=float)
    out = np.zeros(eps.size)
    fin = np.isfinite(eps)
    if fin.any():
        out[fin] = 2 * cfg.clip / cfg.m * np.asarray(analytic_gaussian_sigma(eps[fin], cfg.delta))
    return out


def client_means(cfg: PrivateMeanConfig) -> np.ndarray:
    """The honest clients' means μ_i (h, d), fixed by ``population_seed``."""
    z = seeding.rng(cfg.population_seed, "private mean population").standard_normal((cfg.n - cfg.f, cfg.d))
    return cfg.mu + cfg.sigma_h * z


def simulate_private_mean(cfg: PrivateMeanConfig, *, seeds: Sequence[int], device: torch.device | str = "cpu",
                          dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    """Run every seed and ε at once.

    Returns
    -------
    dict of tensors: ``a``, ``b``, ``c`` (S, E, h), the coefficients of client i's squared error
    :math:`a + 2\\lambda b + \\lambda^2 c`; ``tau`` (E,) the release noise std; ``mu_i`` (h, d).
    """
    seeds = check_seeds(seeds)
    device = torch.device(device)
    S, E, h, m, d = len(seeds), len(cfg.eps), cfg.n - cfg.f, cfg.m, cfg.d
    mu_i = torch.as_tensor(client_means(cfg), dtype=dtype, device=device)
    gens = seeding.generators(seeds, "private mean clients", device)
    x = mu_i[None, :, None, :] + cfg.sigma * seeding.draw(gens, torch.randn, (h, m, d), device=device, dtype=dtype)
    xi = seeding.draw(gens, torch.randn, (h, d), device=device, dtype=dtype)  # one draw, scaled per ε
    xbar = x.mean(-2)  # (S, h, d): the client's own estimate, not released
    norms = x.norm(dim=-1, keepdim=True)
    clipped = (x * torch.clamp(cfg.clip / norms.clamp_min(torch.finfo(dtype).tiny), max=1.0)).mean(-2)
    tau = torch.as_tensor(release_std(cfg), dtype=dtype, device=device)
    releases = clipped[:, None] + tau[None, :, None, None] * xi[:, None]  # (S, E, h, d)

    aggregate = make_aggregator(cfg.aggregator, cfg.f, **cfg.aggregator_params)
    attack = attack_against(cfg.attack, aggregate, cfg.attack_params)
    gen = seeding.generator(seeds[0], "attack", device)
    honest = releases.reshape(S * E, h, d)
    byz = attack(honest, cfg.f, generator=gen)
    F = aggregate(torch.cat([honest, byz], dim=-2)).reshape(S, E, 1, d)
    u = (xbar - mu_i)[:, None]  # (S, 1, h, d)
    v = F - xbar[:, None]
    return {"a": (u * u).sum(-1).expand(S, E, h), "b": (u * v).sum(-1), "c": (v * v).sum(-1), "tau": tau,
            "mu_i": mu_i}
