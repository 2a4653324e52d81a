r"""Federated prompt learning on Gaussian signal/noise features (PromptFolio, arXiv 2409.19610).

Data model (:mod:`fedtheory.theory.feature_learning`; n clients, the paper's K, and m examples per
client, the paper's n): client k holds m examples :math:`x = y\mu_k + \xi`,
:math:`\xi\sim\mathcal N(0, \sigma_p^2P_\perp)`, :math:`\mu_k = \lVert\mu\rVert(\sqrt{1-h}\,e_0 +
\sqrt h\,e_k)`, ‖µ‖ = SNR·σ_p·√d. Rotation invariance of the model and of gradient descent from
p = 0 lets us take e_0 … e_n as the first n+1 coordinates: the signal lives there and the noise in
the other d⊥ = d − n − 1, so P⊥ is "drop the first n+1 coordinates".

Training (the authors' ``PromptFolio`` trainer with a linear text encoder and the binary logistic
loss): each round every client copies the global prompt, runs E full-batch gradient steps on that
copy and on its own local prompt (the local prompt persists across rounds and is never sent), and
the server averages the copies into the new global prompt. Gradient descent keeps every prompt in
the span of the data, so besides the prompts themselves the simulator books the coefficients
γ (signal learning) and ρ (noise memorization) of :mod:`fedtheory.theory.feature_learning` exactly.

Evaluation: fresh test examples from each client's distribution, the mixed prompt
:math:`p_\theta = (1-\theta)p_G + \theta p_{L,k}` on a θ grid, and the exact Gaussian-margin
quantities: the margin mean ⟨p, µ_k⟩, its spread s = σ_p‖P⊥p‖ and
:math:`s_{GL} = \sigma_p^2\langle P_\perp p_G, P_\perp p_L\rangle`.

Tensor dimensions: seeds S × heterogeneity settings H × clients n (× examples m × d). The
noise draws are shared across the H settings (common random numbers: the h comparison is paired).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fedtheory.simulators.shared import seeding
from fedtheory.simulators.shared.config import require_ints, require_positive
from fedtheory.theory._checks import check_scalar

__all__ = ["PromptFolioConfig", "PromptFolioResult", "simulate_promptfolio"]


@dataclass(frozen=True)
class PromptFolioConfig:
    """Settings; defaults follow the authors' reference configuration (d = 2000, σ_p = 1, m = 20,
    η = 1/(σ_p²d), R = 50, E = 5) except ``snr`` (see :mod:`fedtheory.validation.papers.promptfolio`)."""

    d: int = 2000
    sigma_p: float = 1.0
    m: int = 20  # examples per client (the paper's n)
    snr: float = 0.05
    n: int = 10  # clients (the paper's K)
    h: float | Sequence[float] = 0.5
    rounds: int = 50
    local_steps: int = 5
    eta: float | None = None  # default 1/(σ_p² d): η‖ξ‖² ≈ 1
    n_test: int = 4000
    theta_points: int = 21  # θ grid 0, 0.05, …, 1

    def __post_init__(self) -> None:
        require_ints(self, {"d": 2, "m": 1, "n": 1, "rounds": 1, "local_steps": 1, "n_test": 1, "theta_points": 2})
        if self.d <= self.n + 1:
            raise ValueError(f"d must exceed n + 1 (the signal span), got d={self.d}, n={self.n}")
        require_positive(self, "sigma_p")
        check_scalar("snr", self.snr, float, low=0.0)
        if self.eta is not None:
            check_scalar("eta", self.eta, float, low=0.0, low_open=True)
        for h in self.h if isinstance(self.h, Sequence) and not isinstance(self.h, str) else [self.h]:
            check_scalar("h", h, float, low=0.0, high=1.0)

    @property
    def h_values(self) -> list[float]:
        return [float(v) for v in (self.h if isinstance(self.h, Sequence) else [self.h])]

    @property
    def step_size(self) -> float:
        return self.eta if self.eta is not None else 1.0 / (self.sigma_p**2 * self.d)

    @property
    def mu_norm(self) -> float:
        return self.snr * self.sigma_p * math.sqrt(self.d)

    @property
    def theta(self) -> torch.Tensor:
        return torch.linspace(0.0, 1.0, self.theta_points, dtype=torch.float64)


@dataclass
class PromptFolioResult:
    """Measurements with leading dims (S, H, n); trajectories end in a time dimension.

    acc:        (S, H, n, Θ) test accuracy of p_θ on client k's test set (n_test examples)
    m_global, m_local, s_global, s_local, s_cross: (S, H, n) exact Gaussian-margin quantities
    s_global_coef, s_local_coef: (S, H, n) σ_p(Σ ρ_i²/‖ξ_i‖²)^{1/2}, the coefficient-only spread
    gamma_local, rho_local: (S, H, n, T+1) local prompt's γ_k and ρ̄_k = mean_i y_i ρ_{k,i} per step
    margin_local: (S, H, n, T+1) mean training margin y⟨p_L, x⟩ of the local prompt per step
    gamma_global, rho_global: (S, H, n, R+1) global prompt's γ_k and ρ̄_k per round
    xi_norm2: (S, n, m) ‖ξ_{k,i}‖² of the training noise
    """

    theta: torch.Tensor
    acc: torch.Tensor
    m_global: torch.Tensor
    m_local: torch.Tensor
    s_global: torch.Tensor
    s_local: torch.Tensor
    s_cross: torch.Tensor
    s_global_coef: torch.Tensor
    s_local_coef: torch.Tensor
    gamma_local: torch.Tensor
    rho_local: torch.Tensor
    margin_local: torch.Tensor
    gamma_global: torch.Tensor
    rho_global: torch.Tensor
    xi_norm2: torch.Tensor
    prompt_global: torch.Tensor  # (S, H, d) final global prompt
    prompt_local: torch.Tensor  # (S, H, n, d) final local prompts


def _generators(seeds: Sequence[int], device) -> list[torch.Generator]:
    # one generator per seed: a seed's draws do not depend on which seeds share the batch
    return [seeding.generator(int(s), "prompts", device) for s in seeds]


def _draw(gens, shape, device, dtype, kind: str = "normal") -> torch.Tensor:
    if kind == "normal":
        return torch.stack([torch.randn(shape, generator=g, device=device, dtype=dtype) for g in gens])
    return torch.stack([torch.randint(0, 2, shape, generator=g, device=device).to(dtype) * 2 - 1 for g in gens])


def _signals(cfg: PromptFolioConfig, device, dtype) -> torch.Tensor:
    """µ_k in the n+1 signal coordinates, (H, n, n+1)."""
    h = torch.tensor(cfg.h_values, device=device, dtype=dtype)
    mu = torch.zeros(len(h), cfg.n, cfg.n + 1, device=device, dtype=dtype)
    mu[:, :, 0] = torch.sqrt(1 - h)[:, None]
    idx = torch.arange(cfg.n, device=device)
    mu[:, idx, idx + 1] = torch.sqrt(h)[:, None]
    return cfg.mu_norm * mu


def simulate_promptfolio(
    config: PromptFolioConfig,
    *,
    seeds: Sequence[int],
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    test_chunk: int | None = None,
) -> PromptFolioResult:
    """Train global (FedAvg) and local prompts for every seed and h at once; evaluate the portfolio."""
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    cfg, device = config, torch.device(device)
    S, H, n, m, dp = len(seeds), len(cfg.h_values), cfg.n, cfg.m, cfg.d - cfg.n - 1
    eta, sp = cfg.step_size, cfg.sigma_p
    gens = _generators(seeds, device)
    mu = _signals(cfg, device, dtype)  # (H, n, n+1)
    mu2 = (mu**2).sum(-1)  # (H, n) = ‖µ‖²
    y = _draw(gens, (n, m), device, dtype, "sign")  # (S, n, m)
    xi = sp * _draw(gens, (n, m, dp), device, dtype)  # (S, n, m, d⊥), shared across h
    xi2 = (xi**2).sum(-1)  # (S, n, m)

    # prompts: axis 2 holds (client copy of the global prompt, local prompt)
    sig = torch.zeros(S, H, 2, n, n + 1, device=device, dtype=dtype)
    noi = torch.zeros(S, H, 2, n, dp, device=device, dtype=dtype)
    g_sig = torch.zeros(S, H, n + 1, device=device, dtype=dtype)
    g_noi = torch.zeros(S, H, dp, device=device, dtype=dtype)
    gam = torch.zeros(S, H, 2, n, device=device, dtype=dtype)  # γ_k of each prompt (own client)
    rho = torch.zeros(S, H, 2, n, m, device=device, dtype=dtype)
    gam_G = torch.zeros(S, H, n, device=device, dtype=dtype)
    rho_G = torch.zeros(S, H, n, m, device=device, dtype=dtype)

    T = cfg.rounds * cfg.local_steps
    traj_gam = torch.zeros(S, H, n, T + 1, device=device, dtype=dtype)
    traj_rho = torch.zeros_like(traj_gam)
    traj_margin = torch.zeros_like(traj_gam)
    g_traj_gam = torch.zeros(S, H, n, cfg.rounds + 1, device=device, dtype=dtype)
    g_traj_rho = torch.zeros_like(g_traj_gam)
    mu_b = mu[None, :, None]  # (1, H, 1, n, n+1)
    y_b = y[:, None, None]  # (S, 1, 1, n, m)

    step = 0
    for r in range(cfg.rounds):
        sig[:, :, 0], noi[:, :, 0] = g_sig[:, :, None], g_noi[:, :, None]
        gam[:, :, 0], rho[:, :, 0] = 0.0, 0.0  # increments of this round's copies
        for _ in range(cfg.local_steps):
            # margins y⟨p, x⟩ = ⟨p, µ_k⟩ + y⟨p, ξ⟩, (S, H, 2, n, m)
            z = (sig * mu_b).sum(-1)[..., None] + y_b * torch.einsum("shpkd,skid->shpki", noi, xi)
            traj_margin[..., step] = z[:, :, 1].mean(-1)
            w = torch.sigmoid(-z)  # −ℓ'(z) for ℓ(z) = log(1 + e^{−z})
            # p ← p − η∇L = p + (η/m) Σ_i w_i (µ_k + y_i ξ_i)
            sig += (eta / m) * w.sum(-1)[..., None] * mu_b
            noi += (eta / m) * torch.einsum("shpki,skid->shpkd", w * y_b, xi)
            gam += (eta / m) * w.sum(-1) * mu2[None, :, None]
            rho += (eta / m) * w * y_b * xi2[:, None, None]
            step += 1
            traj_gam[..., step] = gam[:, :, 1]
            traj_rho[..., step] = (rho[:, :, 1] * y[:, None]).mean(-1)
        # FedAvg of the copies; coefficient j of p_G gains client j's increment / n
        g_sig, g_noi = sig[:, :, 0].mean(2), noi[:, :, 0].mean(2)
        gam_G += gam[:, :, 0] / n
        rho_G += rho[:, :, 0] / n
        g_traj_gam[..., r + 1] = gam_G
        g_traj_rho[..., r + 1] = (rho_G * y[:, None]).mean(-1)
    z = (sig[:, :, 1] * mu[None]).sum(-1)[..., None] + y[:, None] * torch.einsum("shkd,skid->shki", noi[:, :, 1], xi)
    traj_margin[..., T] = z.mean(-1)

    p_L_sig, p_L_noi = sig[:, :, 1], noi[:, :, 1]  # (S, H, n, ·)
    m_G = torch.einsum("shc,hkc->shk", g_sig, mu)
    m_L = (p_L_sig * mu[None]).sum(-1)
    s_G = (sp * g_noi.norm(dim=-1))[:, :, None].expand(S, H, n)
    s_L = sp * p_L_noi.norm(dim=-1)
    s_GL = sp**2 * torch.einsum("shd,shkd->shk", g_noi, p_L_noi)
    s_G_coef = sp * torch.sqrt((rho_G**2 / xi2[:, None]).sum((-1, -2)))[:, :, None].expand(S, H, n)
    s_L_coef = sp * torch.sqrt((rho[:, :, 1] ** 2 / xi2[:, None]).sum(-1))

    acc = _test_accuracy(cfg, gens, y_dtype=dtype, device=device, means=(m_G, m_L), noise=(g_noi, p_L_noi),
                         chunk=test_chunk)
    full_G, full_L = torch.cat([g_sig, g_noi], -1), torch.cat([p_L_sig, p_L_noi], -1)
    return PromptFolioResult(
        theta=cfg.theta, acc=acc, m_global=m_G, m_local=m_L, s_global=s_G, s_local=s_L, s_cross=s_GL,
        s_global_coef=s_G_coef, s_local_coef=s_L_coef, gamma_local=traj_gam, rho_local=traj_rho,
        margin_local=traj_margin, gamma_global=g_traj_gam, rho_global=g_traj_rho, xi_norm2=xi2,
        prompt_global=full_G, prompt_local=full_L,
    )


def _test_accuracy(cfg, gens, *, y_dtype, device, means, noise, chunk) -> torch.Tensor:
    """Fraction of fresh test examples classified correctly by p_θ, (S, H, n, Θ); streamed in chunks."""
    m_G, m_L = means  # (S, H, n)
    g_noi, l_noi = noise  # (S, H, d⊥), (S, H, n, d⊥)
    S, H, n = m_L.shape
    dp = g_noi.shape[-1]
    theta = cfg.theta.to(device=device, dtype=y_dtype)
    if chunk is None:  # keep one chunk of test noise near 64 MB
        chunk = max(1, min(cfg.n_test, 2**24 // max(1, S * n * dp)))
    correct = torch.zeros(S, H, n, len(theta), device=device, dtype=torch.float64)
    done = 0
    while done < cfg.n_test:
        c = min(chunk, cfg.n_test - done)
        y = _draw(gens, (n, c), device, y_dtype, "sign")  # (S, n, c)
        xi = cfg.sigma_p * _draw(gens, (n, c, dp), device, y_dtype)  # (S, n, c, d⊥)
        zG = m_G[..., None] + y[:, None] * torch.einsum("shd,skcd->shkc", g_noi, xi)
        zL = m_L[..., None] + y[:, None] * torch.einsum("shkd,skcd->shkc", l_noi, xi)
        z = (1 - theta)[:, None] * zG[..., None, :] + theta[:, None] * zL[..., None, :]  # (S, H, n, Θ, c)
        correct += (z > 0).sum(-1).to(torch.float64)
        done += c
    return correct / cfg.n_test
