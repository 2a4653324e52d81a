r"""Synthetic DP federated LoRA (LA-LoRA, arXiv 2602.19926) with explicit factors A and B.

Task: a frozen "pretrained" square layer W₀ ∈ ℝ^{d×d} inside a frozen network, logits = H·(W x),
fine-tuned through W = W₀ + s·B·A (B ∈ ℝ^{d×r}, A ∈ ℝ^{r×d}) on labels drawn from the softmax of
a teacher W⋆ = W₀ + U_⋆V_⋆ᵀ + (client-specific rank-1 shift, heterogeneity); cross-entropy loss. The layer
is square so that cos(vec ∇_A, vec ∇_Bᵀ), the coupling statistic of the paper's Fig. 2, is defined.

DP-SGD on each client (record-level privacy per client): every local step draws a Poisson batch
(each example with probability q), computes per-example gradients of the trained factor(s) with
``torch.func`` (functional_call-free: the model is a pure function of A and B; vmap over examples,
clients and seeds in the tests; the simulator uses the model's closed form, outer products that
are never materialized, and is checked against it), clips each per-example gradient to norm C (jointly over the factors updated in
that step), sums, adds N(0, σ²C²) per entry and divides by the expected batch size qm — the
Poisson scheme that opacus' RDP/PRV accountants assume (:mod:`fedtheory.theory.privacy`). The server averages
A and B separately (FedAvg).

Methods (which factor is noised and updated at local step k of round t):
``dp_lora`` both, simultaneously; ``ffa_lora`` B only (A frozen at its random init);
``rolora`` B in even rounds, A in odd rounds; ``la_lora`` B at even k, A at odd k, optionally
smoothing the noisy gradient with the 5-tap kernel [1,4,6,4,1]/16 (A along its d columns, B along
its d rows, symmetric padding) before the step (post-processing: no privacy cost).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.func import grad, vmap

from fedtheory.simulators.shared import seeding
from fedtheory.simulators.shared.config import check_choice, check_scalar, check_seeds, require_ints, require_positive
from fedtheory.simulators.shared.dp import clip_factor, noisy_mean
from fedtheory.simulators.shared.lora import METHODS, smooth_factor, trained_factors

__all__ = ["DPLoRAConfig", "METHODS", "make_task", "bilinear_per_example_grads", "per_example_factors",
           "per_example_grads_closed_form", "per_example_grads_func", "sharpness", "simulate_dp_lora"]


@dataclass(frozen=True)
class DPLoRAConfig:
    """Sizes and DP settings. ``noise_multiplier`` = 0 runs without noise (and without clipping if ``clip`` is None)."""

    d: int = 32  # square adapted layer
    classes: int = 8
    r: int = 4  # LoRA rank
    r_star: int = 2  # rank of the teacher's update
    n: int = 8  # clients
    m: int = 256  # training examples per client
    n_test: int = 1024
    heterogeneity: float = 0.5  # size of the client-specific teacher shift relative to the shared one
    temperature: float = 4.0  # teacher logits scale: labels ~ softmax(temperature · H W⋆ x)
    update_scale: float = 8.0  # ‖U⋆V⋆ᵀ‖ relative to ‖W₀‖ ≈ update_scale·√(r⋆/d)
    rounds: int = 20
    local_steps: int = 4
    lr: float = 0.5
    scale: float = 1.0  # LoRA scaling s
    sample_rate: float = 0.25  # Poisson sampling rate q per local step
    clip: float | None = 1.0
    noise_multiplier: float = 1.0

    def __post_init__(self) -> None:
        require_ints(self, {"d": 2, "classes": 2, "r": 1, "r_star": 1, "n": 1, "m": 2, "n_test": 1,
                            "rounds": 1, "local_steps": 1})
        check_scalar("r", self.r, int, low=1, high=self.d)  # high: d
        require_positive(self, "lr", "scale")
        check_scalar("sample_rate", self.sample_rate, low=0, low_open=True, high=1)
        if self.clip is not None:
            check_scalar("clip", self.clip, low=0, low_open=True)
        check_scalar("noise_multiplier", self.noise_multiplier, low=0)
        if self.noise_multiplier > 0 and self.clip is None:
            raise ValueError("noise needs a clip norm: set clip > 0 when noise_multiplier > 0")
        check_scalar("heterogeneity", self.heterogeneity, low=0)

    @property
    def total_steps(self) -> int:
        """DP-SGD steps per client (what the accountant composes)."""
        return self.rounds * self.local_steps


# --------------------------------------------------------------------------- task
def make_task(cfg: DPLoRAConfig, seeds: Sequence[int], device, dtype=torch.float32) -> dict[str, torch.Tensor]:
    """Per-seed frozen parts, client data and test data (one generator per seed)."""
    out: dict[str, list] = {k: [] for k in ("W0", "H", "X", "y", "X_test", "y_test", "A0")}
    d, c, n, m = cfg.d, cfg.classes, cfg.n, cfg.m
    for s in seeds:
        g = seeding.generator(int(s), "task")
        W0 = torch.randn(d, d, generator=g) / math.sqrt(d)
        H = torch.randn(c, d, generator=g) / math.sqrt(d)
        U, V = torch.randn(d, cfg.r_star, generator=g), torch.randn(d, cfg.r_star, generator=g)
        shared = cfg.update_scale * U @ V.T / d
        Uk, Vk = torch.randn(n, d, 1, generator=g), torch.randn(n, d, 1, generator=g)
        teacher = W0 + shared + cfg.heterogeneity * cfg.update_scale * Uk @ Vk.transpose(1, 2) / d  # (n, d, d)
        X = torch.randn(n, m, d, generator=g)
        # labels drawn from the teacher's softmax (a realizable model: the CE optimum is the teacher)
        y = _sample_labels(cfg.temperature * torch.einsum("cd,pde,pne->pnc", H, teacher, X), g)
        Xt = torch.randn(n, cfg.n_test // n or 1, d, generator=g)
        yt = _sample_labels(cfg.temperature * torch.einsum("cd,pde,pne->pnc", H, teacher, Xt), g)
        A0 = torch.empty(cfg.r, d).uniform_(-1, 1, generator=g) / math.sqrt(d)  # LoRA: A random, B = 0
        for k, v in (("W0", W0), ("H", H), ("X", X), ("y", y), ("X_test", Xt), ("y_test", yt), ("A0", A0)):
            out[k].append(v)
    return {k: torch.stack(v).to(device=device, dtype=dtype if v[0].is_floating_point() else None)
            for k, v in out.items()}


def _sample_labels(logits: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    flat = torch.multinomial(torch.softmax(logits.reshape(-1, logits.shape[-1]), -1), 1, generator=g)
    return flat.view(logits.shape[:-1])


def _loss(A, B, W0, H, x, y, scale: float):
    """Cross-entropy of one example through logits = H (W₀ + sBA) x."""
    logits = H @ ((W0 + scale * B @ A) @ x)
    return torch.nn.functional.cross_entropy(logits[None], y[None])


def bilinear_per_example_grads(A, B, W0, H, X, y, scale: float):
    """Per-example (∇_A, ∇_B) for one client: X (m, d), y (m,) → (m, r, d), (m, d, r). torch.func vmap(grad)."""
    g = vmap(grad(_loss, argnums=(0, 1)), in_dims=(None, None, None, None, 0, 0, None))
    return g(A, B, W0, H, X, y, scale)


def per_example_factors(A, B, W0, H, X, y, scale: float):
    r"""Per-example gradients of all seeds and clients as outer products, never materialized.

    With e = softmax(z) − onehot(y), z = H(W₀ + sBA)x: ∇_W = Hᵀe xᵀ, so
    ∇_A = (s·BᵀHᵀe)·xᵀ and ∇_B = (s·Hᵀe)·(Ax)ᵀ. Returns ((u_A, v_A), (u_B, v_B)) with the gradient of
    example i equal to u_i v_iᵀ: shapes (S, n, m, r), (S, n, m, d) and (S, n, m, d), (S, n, m, r).
    Norms are ‖u‖·‖v‖ and clipped sums contract over examples directly, so a step costs
    O(m(r + d)) per client instead of O(m·r·d). Equal to torch.func's vmap(grad) (tested).
    Shapes in: A (S, n, r, d), B (S, n, d, r), W0 (S, d, d), H (S, c, d), X (S, n, m, d), y (S, n, m).
    """
    W = W0[:, None] + scale * B @ A
    z = torch.einsum("scd,spde,spne->spnc", H, W, X)
    e = torch.softmax(z, -1) - torch.nn.functional.one_hot(y, H.shape[1]).to(z)
    He = torch.einsum("scd,spnc->spnd", H, e)
    uA = scale * torch.einsum("spdr,spnd->spnr", B, He)
    vB = torch.einsum("sprd,spnd->spnr", A, X)
    return (uA, X), (scale * He, vB)


def per_example_grads_closed_form(A, B, W0, H, X, y, scale: float):
    """Materialized per-example (∇_A, ∇_B), (S, n, m, r, d) and (S, n, m, d, r), from :func:`per_example_factors`."""
    (uA, vA), (uB, vB) = per_example_factors(A, B, W0, H, X, y, scale)
    return uA[..., :, None] * vA[..., None, :], uB[..., :, None] * vB[..., None, :]


def per_example_grads_func(A, B, W0, H, X, y, scale: float):
    """Same as :func:`per_example_grads_closed_form`, through torch.func (vmap over seeds, clients, examples)."""
    inner = vmap(bilinear_per_example_grads, in_dims=(0, 0, None, None, 0, 0, None))
    return vmap(inner, in_dims=(0, 0, 0, 0, 0, 0, None))(A, B, W0, H, X, y, scale)


def sharpness(t: dict[str, torch.Tensor], A: torch.Tensor, B: torch.Tensor, scale: float, iters: int = 30,
              seed: int = 0) -> torch.Tensor:
    r"""λ_max of the Hessian of the training loss in (A, B), per seed: power iteration on Hessian-vector products.

    The loss is the mean cross-entropy over all clients' data at the global factors (S, r, d), (S, d, r);
    each HVP is a double backward pass, batched over seeds (the seeds' losses are independent, so the
    Hessian of their sum is block-diagonal). Power iteration converges to the eigenvalue of largest
    magnitude; returns the Rayleigh quotient after ``iters`` steps, (S,).
    """
    A = A.detach().clone().requires_grad_(True)
    B = B.detach().clone().requires_grad_(True)
    W = t["W0"] + scale * B @ A
    logits = torch.einsum("scd,sde,spne->spnc", t["H"], W, t["X"])
    per_seed = torch.nn.functional.cross_entropy(logits.flatten(0, 2), t["y"].flatten(), reduction="none")
    loss = per_seed.view(A.shape[0], -1).mean(1).sum()
    gA, gB = torch.autograd.grad(loss, (A, B), create_graph=True)
    g = seeding.generator(seed, "power iteration", A.device)
    vA = torch.randn(A.shape, generator=g, device=A.device, dtype=A.dtype)
    vB = torch.randn(B.shape, generator=g, device=A.device, dtype=A.dtype)
    lam = torch.zeros(A.shape[0], device=A.device, dtype=A.dtype)
    for _ in range(iters):
        norm = torch.sqrt(vA.pow(2).sum((1, 2)) + vB.pow(2).sum((1, 2))).clamp_min(1e-30)[:, None, None]
        vA, vB = vA / norm, vB / norm
        hA, hB = torch.autograd.grad((gA * vA).sum() + (gB * vB).sum(), (A, B), retain_graph=True)
        lam = (hA * vA).sum((1, 2)) + (hB * vB).sum((1, 2))
        vA, vB = hA.detach(), hB.detach()
    return lam.detach()


# --------------------------------------------------------------------------- training
def simulate_dp_lora(
    cfg: DPLoRAConfig,
    method: str,
    *,
    seeds: Sequence[int],
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    noise_on: tuple[str, ...] = ("B", "A"),
) -> dict[str, torch.Tensor]:
    """Federated DP LoRA for all seeds and clients at once; per-round curves with a leading seed dim.

    ``noise_on``: the factors whose DP noise is added (a diagnostic: ("B",) or ("A",) isolate the
    terms of the product; the privacy guarantee needs both).

    Returns ``loss`` (S, R+1) training loss of the global model on all clients' data, ``acc``
    (S, R+1) its test accuracy, ``cos`` (S, R) mean over clients and local steps of
    cos(vec ∇_A, vec ∇_Bᵀ) of the clean (unclipped, noiseless) mean gradients at the current local
    factors, ``max_clipped_norm`` (S,) the largest per-example norm after clipping (≤ C), the
    final ``A`` (S, r, d) and ``B`` (S, d, r), and ``sharpness`` (S,), λ_max of the final training
    loss's Hessian in (A, B) (:func:`sharpness`).
    """
    check_choice("method", method, METHODS)
    seeds = check_seeds(seeds)
    device = torch.device(device)
    t = make_task(cfg, seeds, device, dtype)
    S, n, m, d, r = len(seeds), cfg.n, cfg.m, cfg.d, cfg.r
    # separate streams for batches and for each factor's noise: switching one factor's noise off
    # (``noise_on``) leaves every other draw unchanged (common random numbers)
    gen = seeding.generators(seeds, "batches", device)
    gen_noise = {f: seeding.generators(seeds, f"noise:{f}", device) for f in ("B", "A")}
    A = t["A0"].clone()  # (S, r, d) global
    B = torch.zeros(S, d, r, device=device, dtype=dtype)
    sigma_c = cfg.noise_multiplier * (cfg.clip or 0.0)
    expected_batch = cfg.sample_rate * m

    def evaluate(A, B):
        W = t["W0"] + cfg.scale * B @ A  # (S, d, d)
        logits = torch.einsum("scd,sde,spne->spnc", t["H"], W, t["X"])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 2), t["y"].flatten(), reduction="none")
        lt = torch.einsum("scd,sde,spne->spnc", t["H"], W, t["X_test"])
        acc = (lt.argmax(-1) == t["y_test"]).to(dtype).mean((1, 2))
        return loss.view(S, -1).mean(1), acc

    losses, accs, coss = [], [], []
    max_norm = torch.zeros(S, device=device, dtype=dtype)
    l0, a0 = evaluate(A, B)
    losses.append(l0), accs.append(a0)
    for rnd in range(cfg.rounds):
        Ak = A[:, None].expand(S, n, r, d).clone()
        Bk = B[:, None].expand(S, n, d, r).clone()
        cos_round = []
        for step in range(cfg.local_steps):
            upd_B, upd_A = trained_factors(method, rnd, step)
            (uA, vA), (uB, vB) = per_example_factors(Ak, Bk, t["W0"], t["H"], t["X"], t["y"], cfg.scale)
            # clean mean gradients, for the coupling statistic cos(vec ∇_A, vec ∇_Bᵀ)
            mA = torch.einsum("spnr,spnd->sprd", uA, vA) / m
            mBt = torch.einsum("spnd,spnr->sprd", uB, vB) / m
            cos_round.append(torch.nn.functional.cosine_similarity(mA.flatten(2), mBt.flatten(2), dim=-1))
            mask = (seeding.draw(gen, torch.rand, (n, m), device=device) < cfg.sample_rate).to(dtype)  # Poisson
            names = [f for f, on in (("B", upd_B), ("A", upd_A)) if on]
            pairs = {"B": (uB, vB), "A": (uA, vA)}
            weight = mask
            if cfg.clip is not None:  # joint per-example norm over the factors released in this step
                sq = sum(pairs[f][0].pow(2).sum(-1) * pairs[f][1].pow(2).sum(-1) for f in names)
                factor = clip_factor(sq, cfg.clip)
                max_norm = torch.maximum(max_norm, (sq.sqrt() * factor * mask).amax((1, 2)))
                weight = mask * factor
            summed = [torch.einsum("spn,spni,spnj->spij", weight, *pairs[f]) for f in names]  # B: (d, r), A: (r, d)
            noisy = []
            for f, x in zip(names, summed):
                # the draw happens whether or not this factor's noise is on (common random numbers)
                z = None if sigma_c == 0 else seeding.draw(gen_noise[f], torch.randn, x.shape[1:], device=device,
                                                           dtype=dtype)
                noisy.append(noisy_mean(x, z if f in noise_on else None, sigma_c, expected_batch))
            if method == "la_lora_filter":
                noisy = [smooth_factor(x, f) for f, x in zip(names, noisy)]
            it = iter(noisy)
            if upd_B:
                Bk = Bk - cfg.lr * next(it)
            if upd_A:
                Ak = Ak - cfg.lr * next(it)
        A, B = Ak.mean(1), Bk.mean(1)  # FedAvg of each factor
        coss.append(torch.stack(cos_round).nan_to_num(0.0).mean((0, 2)))
        lt, at = evaluate(A, B)
        losses.append(lt), accs.append(at)
    return {"loss": torch.stack(losses, 1), "acc": torch.stack(accs, 1), "cos": torch.stack(coss, 1),
            "max_clipped_norm": max_norm, "A": A, "B": B, "sharpness": sharpness(t, A, B, cfg.scale)}
