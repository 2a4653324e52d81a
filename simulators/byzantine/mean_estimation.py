r"""Batched simulator of Byzantine-robust personalized mean estimation.

Model (arXiv 2409.20329, Section 3 and Fig. 1; authors' notebook ``MeanEstimationClean``):
``c = n - f`` honest clients with :math:`\mu_i \sim N(\mu, \sigma_h^2 I_d)`, each holding ``m``
samples :math:`N(\mu_i, \sigma^2 I_d)`; ``f`` Byzantine clients send attack vectors computed from
the honest local means; the server aggregates all ``n`` with a robust rule F; every honest client
forms :math:`\hat\theta_i(\lambda) = (1-\lambda)\bar x_i + \lambda F`.

Because the squared error :math:`\lVert\hat\theta_i(\lambda)-\mu_i\rVert^2 = a_i + 2\lambda b_i +
\lambda^2 c_i` is a quadratic in λ, the simulator returns the three coefficients per
(seed, setting, client) and evaluates any λ grid from them exactly, at no extra cost.

The local mean of m Gaussian samples is drawn directly as :math:`N(\mu_i, \sigma^2/m\, I_d)`,
which has exactly the law of the sample mean (sufficiency); attacks therefore see local means,
not individual samples (the notebook's per-sample "clipped SF" variant is not modelled).

Batch dimensions: seeds × settings × clients × d. ``sigma``, ``sigma_h``, ``m`` and ``mu`` may be
sequences of equal length G (the settings grid); ``n`` and ``f`` fix the tensor shapes and
are scalars (sweep them with one call per value).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from fedtheory.simulators.shared import seeding
from fedtheory.simulators.shared.aggregators import make_aggregator
from fedtheory.simulators.shared.attacks import attack_against
from fedtheory.simulators.shared.config import check_n_f, check_range, check_seeds, require_ints

__all__ = ["MeanEstimationConfig", "MeanEstimationResult", "simulate_mean_estimation"]

# Cap on elements of the (batch, n, n) distance tensors that NNM / Krum build at once.
_PAIRWISE_BUDGET = 2**25


@dataclass(frozen=True)
class MeanEstimationConfig:
    """Settings of the mean-estimation experiment (defaults: the paper's Fig. 1)."""

    n: int = 600
    f: int = 100
    m: int | Sequence[int] = 20
    d: int = 1
    sigma: float | Sequence[float] = 15.0
    sigma_h: float | Sequence[float] = 2.0
    mu: float | Sequence[float] = 10.0
    attack: str = "sign_flipping"
    attack_params: dict = field(default_factory=dict)
    aggregator: str = "nnm+trimmed_mean"
    aggregator_params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_ints(self, {"n": 2, "f": 0, "d": 1})
        check_n_f(self.n, self.f)
        check_range("m", self.m, low=1, integer=True)
        check_range("sigma", self.sigma, low=0, low_open=True)
        check_range("sigma_h", self.sigma_h, low=0)
        check_range("mu", self.mu)
        sizes = {len(v) for v in (self.m, self.sigma, self.sigma_h, self.mu) if isinstance(v, Sequence)}
        if len(sizes) > 1:
            raise ValueError(f"m, sigma, sigma_h and mu given as sequences must share one length, got {sorted(sizes)}")

    @property
    def n_settings(self) -> int:
        for v in (self.m, self.sigma, self.sigma_h, self.mu):
            if isinstance(v, Sequence):
                return len(v)
        return 1

    def setting_tensor(self, name: str, device, dtype) -> torch.Tensor:
        """Parameter ``name`` as a (G,) tensor."""
        v = getattr(self, name)
        t = torch.as_tensor(v, dtype=dtype, device=device).reshape(-1)
        return t.expand(self.n_settings) if t.numel() == 1 else t


@dataclass
class MeanEstimationResult:
    r"""Per-client error coefficients: :math:`\mathrm{err}_i(\lambda) = a + 2\lambda b + \lambda^2 c`.

    Shapes: ``a, b, c, bias2`` are (S, G, h) for S seeds, G settings and h = n − f honest clients;
    ``spread2`` is (S, G). ``bias2`` is :math:`\lVert\mu_i-\mu_C\rVert^2` and ``spread2`` its mean
    over honest clients (Δ² of the paper), both realized.
    """

    seeds: list[int]
    a: torch.Tensor
    b: torch.Tensor
    c: torch.Tensor
    bias2: torch.Tensor
    spread2: torch.Tensor

    def errors(self, lams: torch.Tensor | Sequence[float]) -> torch.Tensor:
        """Squared error of every honest client at each λ: (S, G, h, L)."""
        lam = torch.as_tensor(lams, dtype=self.a.dtype, device=self.a.device)
        return self.a[..., None] + 2 * lam * self.b[..., None] + lam**2 * self.c[..., None]

    def mean_curve(self, lams: torch.Tensor | Sequence[float]) -> torch.Tensor:
        """Error averaged over honest clients, per seed and setting: (S, G, L)."""
        lam = torch.as_tensor(lams, dtype=self.a.dtype, device=self.a.device)
        a, b, c = (t.mean(-1, keepdim=True) for t in (self.a, self.b, self.c))
        return a + 2 * lam * b + lam**2 * c


def _draw_standard_normals(seeds: Sequence[int], shape: tuple[int, ...], device, dtype) -> torch.Tensor:
    # one stream per seed (chunked and resumed runs reproduce a full run exactly); only the draws
    # loop over seeds, all arithmetic below is batched
    return seeding.draw(seeding.generators(seeds, "clients", device), torch.randn, shape, device=device, dtype=dtype)


def simulate_mean_estimation(
    config: MeanEstimationConfig,
    *,
    seeds: Sequence[int],
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float64,
) -> MeanEstimationResult:
    """Run the experiment for every seed and setting at once; see the module docstring."""
    seeds = check_seeds(seeds)
    device = torch.device(device)
    n, f, d, G = config.n, config.f, config.d, config.n_settings
    h = n - f
    z = _draw_standard_normals(seeds, (2, G, h, d), device, dtype)  # [client means, local noise]
    S = len(seeds)

    mu = config.setting_tensor("mu", device, dtype)[None, :, None, None]
    sigma_h = config.setting_tensor("sigma_h", device, dtype)[None, :, None, None]
    sd_mean = (config.setting_tensor("sigma", device, dtype) / config.setting_tensor("m", device, dtype).sqrt())[
        None, :, None, None
    ]
    mu_i = mu + sigma_h * z[:, 0]  # (S, G, h, d)
    xbar = mu_i + sd_mean * z[:, 1]

    aggregate = make_aggregator(config.aggregator, f, **config.aggregator_params)
    attack = attack_against(config.attack, aggregate, config.attack_params)
    # Only random attacks (gaussian) use it. Their draws depend on the whole seed list and its
    # chunking, unlike the client data: reproducible for the same call, not across batchings.
    gen = seeding.generator(seeds[0], "attack", device)

    flat = xbar.reshape(S * G, h, d)
    chunk = max(1, _PAIRWISE_BUDGET // (n * n))
    agg_out = []
    for start in range(0, S * G, chunk):  # memory, not logic: bounds the n×n distance tensors
        honest = flat[start : start + chunk]
        byz = attack(honest, f, generator=gen)
        agg_out.append(aggregate(torch.cat([honest, byz], dim=-2)))
    F = torch.cat(agg_out).reshape(S, G, 1, d)

    u = xbar - mu_i  # local error
    v = F - xbar  # pull towards the aggregate
    mu_c = mu_i.mean(dim=-2, keepdim=True)
    bias2 = ((mu_i - mu_c) ** 2).sum(-1)
    return MeanEstimationResult(
        seeds=seeds,
        a=(u * u).sum(-1),
        b=(u * v).sum(-1),
        c=(v * v).sum(-1),
        bias2=bias2,
        spread2=bias2.mean(-1),
    )
