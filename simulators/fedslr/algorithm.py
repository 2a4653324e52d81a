r"""FedSLR (arXiv 2302.11051), as the authors' code runs it, batched over seeds × clients.

One round t (``huangtiansheng/fedslr``, ``utils_methods.py`` and ``utils_general.py``; every choice
of the code that the abstract's stated problem does not imply is a switch of :class:`FedSLRConfig`):

1. The active clients :math:`\mathcal S_t` (each independently with probability ``participation``;
   redrawn if none) start from the global :math:`w^t` and run ``local_steps`` SGD steps on the
   FedDyn objective

   .. math:: f_i(w) - \langle\mu_i, w\rangle + \tfrac\alpha2\lVert w - w^t\rVert^2
             + \tfrac{\mathrm{wd}}2\lVert w\rVert^2

   (the weight decay ``weight_decay`` is inside the code's local objective, 1e-3 there; 0 gives the
   stated problem), then update their duals :math:`\mu_i \leftarrow \mu_i + \alpha(w^t - w_i)`.
2. Stage 2 on the same clients: ``personal_steps`` proximal SGD steps on the sparse personal part,
   :math:`p_i \leftarrow S_{\gamma\eta_t}\bigl(p_i - \eta_t(\nabla f_i(w^t + p_i) + \mathrm{wd}_p\,p_i)\bigr)`
   with :math:`w^t` the model the client received (``stage2_at="received"``, the code) or
   :math:`w^{t+1}` (``"new"``).
3. The server forms :math:`v = \frac1{|\mathcal S_t|}\sum_{i\in\mathcal S_t} w_i - \frac1{\alpha N}\sum_{i=1}^N \mu_i`
   and thresholds the singular values of every 2-D weight, :math:`w^{t+1} = D_{\lambda/\alpha}(v)`;
   1-D parameters are copied.

The personalised model is :math:`w^{t+1} + p_i`; :math:`p_i^0 = w^0` in the code (``p_init="w0"``)
or 0 (``"zeros"``). With ``personalisation="ditto"`` stage 2 is Ditto's instead (Li et al., ICML 2021,
Algorithm 1): the client keeps a whole personal model :math:`v_i` (:math:`v_i^0 = w^0`), takes
``personal_steps`` SGD steps on :math:`f_i(v_i) + \tfrac{\lambda_D}2\lVert v_i - w^t\rVert^2`
(λ_D = ``ditto_weight``) and is evaluated at :math:`v_i` (no threshold; α = 0 and λ = 0 make the
global part FedAvg, as in Ditto). Learning rate :math:`\eta_t = \eta\cdot\mathrm{decay}^t` for both stages (0.998 in
the code). With α = ``alpha_coef`` = 0 there is no dual and no proximal term and v is the plain mean (FedAvg; then
λ = ``nuclear_weight`` must be 0); λ = 0 and no stage 2 is FedDyn.

**reconstructed** (only the abstract of the paper could be read): stage 1 is read as the augmented-
Lagrangian solver of :math:`\min_w \frac1N\sum_i f_i(w) + \lambda\sum_\ell\lVert W_\ell\rVert_*`, whose
fixed point (w_i = w, μ_i = ∇f_i(w)) satisfies :math:`w = D_{\lambda/\alpha}(w - \nabla F(w)/\alpha)`,
the stationarity condition of that problem, whatever the number of local steps; with weight decay
the fixed point is that of :math:`F + \frac{\mathrm{wd}}2\lVert w\rVert^2 + \lambda\lVert w\rVert_*`.

The SVT here is torch's batched SVD with the singular values clamped, the simulator's own copy of
:func:`fedtheory.theory.proximal.singular_value_threshold` (tested equal); the soft threshold is
:func:`torch.nn.functional.softshrink`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from fedtheory.simulators.shared import seeding
from fedtheory.simulators.shared.config import check_choice, check_scalar, check_seeds, require_ints

__all__ = ["FedSLRConfig", "FedSLRTask", "downlink_count", "run_fedslr", "svt"]

Params = dict[str, torch.Tensor]


class FedSLRTask(Protocol):
    """What :func:`run_fedslr` needs of a problem with n clients, batched over S seeds."""

    n: int  #: clients
    m: int  #: training examples per client

    def init(self) -> Params:
        """Initial global parameters, name → (S, *shape)."""

    def grads(self, w: Params, idx: torch.Tensor | None) -> Params:
        """∇f_i at each client's parameters w (name → (S, n, *shape)) on examples ``idx`` (S, n, B), or all."""

    def test_loss(self, w: Params) -> torch.Tensor:
        """(S, n): each client's test loss of the per-client parameters w (name → (S, n, *shape))."""


@dataclass(frozen=True)
class FedSLRConfig:
    """FedSLR settings; the defaults are the authors' code's where they are structural."""

    rounds: int = 100
    local_steps: int = 10
    personal_steps: int = 5
    lr: float = 0.1
    lr_decay: float = 1.0  # the code: 0.998 per round
    alpha_coef: float = 0.1  # FedDyn's α (the code's alpha_coef; 0: FedAvg, no dual)
    nuclear_weight: float = 1e-4  # λ of the nuclear norm (the code's rank_threshold); the SVT threshold is λ/α
    l1_weight: float = 1e-3  # γ of the ℓ1 norm (the code's sparse_threshold); the soft threshold is γ·η_t
    weight_decay: float = 1e-3  # inside the stage-1 local objective (the code)
    personal_weight_decay: float = 1e-3  # on p_i in stage 2 (the code)
    participation: float = 1.0  # the code: 0.1
    batch_size: int | None = None  # None: full-batch gradients
    p_init: str = "w0"  # the code: p_i⁰ = w⁰ for matrices; "zeros"
    stage2_at: str = "received"  # the code: stage 2 at w^t; "new": at w^{t+1}
    stage2: bool = True
    personalisation: str = "sparse"  # "sparse": FedSLR's w + p_i; "ditto": Ditto's personal model v_i
    ditto_weight: float = 0.1  # λ_D of Ditto's proximal term (personalisation="ditto" only)

    def __post_init__(self) -> None:
        require_ints(self, {"rounds": 1, "local_steps": 1, "personal_steps": 0})
        check_scalar("lr", self.lr, low=0, low_open=True)
        check_scalar("lr_decay", self.lr_decay, low=0, low_open=True, high=1)
        check_scalar("alpha_coef", self.alpha_coef, low=0)
        check_scalar("nuclear_weight", self.nuclear_weight, low=0)
        check_scalar("l1_weight", self.l1_weight, low=0)
        check_scalar("weight_decay", self.weight_decay, low=0)
        check_scalar("personal_weight_decay", self.personal_weight_decay, low=0)
        check_scalar("participation", self.participation, low=0, low_open=True, high=1)
        if self.batch_size is not None:
            check_scalar("batch_size", self.batch_size, int, low=1)
        check_choice("p_init", self.p_init, ("w0", "zeros"))
        check_choice("stage2_at", self.stage2_at, ("received", "new"))
        check_choice("personalisation", self.personalisation, ("sparse", "ditto"))
        check_scalar("ditto_weight", self.ditto_weight, low=0)
        if self.alpha_coef == 0 and self.nuclear_weight > 0:
            raise ValueError("nuclear_weight must be 0 when alpha_coef = 0: the SVT threshold is nuclear_weight/alpha_coef")


def svt(X: torch.Tensor, tau: float) -> tuple[torch.Tensor, torch.Tensor, tuple]:
    """Batched singular value thresholding of X (..., m, n).

    Returns D_τ(X), its rank (...) (thresholded values are exact zeros) and the SVD (U, s − τ clamped, Vh).
    """
    U, s, Vh = torch.linalg.svd(X, full_matrices=False)
    s = (s - tau).clamp_min(0.0)
    return (U * s.unsqueeze(-2)) @ Vh, (s > 0).sum(-1), (U, s, Vh)


def downlink_count(svd: tuple, rank: torch.Tensor) -> torch.Tensor:
    """Floats of one matrix's broadcast, per seed (S,): the entries of the factors U√Σ (m × k) and √ΣVᵀ (k × n)
    built from the thresholded SVD, or of the dense matrix when that is no larger."""
    U, s, Vh = svd
    m, n = U.shape[-2], Vh.shape[-1]
    out = []
    for b in range(U.shape[0]):  # the rank differs per seed: factors of different sizes
        k = int(rank[b])
        root = s[b, :k].sqrt()
        factors = (U[b, :, :k] * root, root[:, None] * Vh[b, :k])
        out.append(min(sum(f.numel() for f in factors), m * n))
    return torch.tensor(out, dtype=torch.float64)


def run_fedslr(task: FedSLRTask, cfg: FedSLRConfig, *, seeds: Sequence[int], record: Sequence[int] = (),
               device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
    """Run FedSLR for all seeds and clients at once.

    Parameters
    ----------
    task : FedSLRTask, its tensors already on the device
    cfg : FedSLRConfig
    seeds : the S seeds of the task (participation and minibatch streams come from them)
    record : rounds (0 … R) at which the global model and the personal parts are stored

    Returns
    -------
    dict of tensors:
        ``test_global`` (S, R+1) mean client test loss of w^t; ``test_personal`` (S, R+1) of w^t + p_i;
        ``rank`` (S, R+1, K) of the K matrices of w^t; ``density`` (S, R+1) fraction of non-zero
        entries of the p_i (all clients); ``downlink`` (S, R) floats per client of round t's
        broadcast of w^{t+1}; ``uplink`` (S, R) floats sent up (active clients × dense model);
        ``active`` (S, R) active clients; and for every recorded round r, ``w/<name>`` (S, len(record), …),
        ``p/<name>`` (S, len(record), n, …) and ``w_stage2/<name>`` (the w stage 2 of round r − 1 used).
    """
    seeds = check_seeds(seeds)
    record = sorted({check_scalar("record", r, int, low=0, high=cfg.rounds) for r in record})
    w = {k: v.clone() for k, v in task.init().items()}
    S, n = len(seeds), task.n
    some = next(iter(w.values()))
    device = some.device if device is None else torch.device(device)
    dtype = some.dtype
    shapes = {k: v.shape[1:] for k, v in w.items()}
    matrices = [k for k, s in shapes.items() if len(s) == 2]
    mu = {k: torch.zeros(S, n, *s, device=device, dtype=dtype) for k, s in shapes.items()}
    ditto = cfg.personalisation == "ditto"
    # p: FedSLR's sparse part, or Ditto's personal model v_i (then every parameter starts at w⁰)
    p = {k: (v[:, None].expand(S, n, *shapes[k]).clone() if ditto or (cfg.p_init == "w0" and k in matrices)
             else torch.zeros(S, n, *shapes[k], device=device, dtype=dtype)) for k, v in w.items()}
    g_part = seeding.generators(seeds, "participation")
    g_batch = seeding.generators(seeds, "minibatches")
    expand = lambda t: {k: v[:, None].expand(S, n, *shapes[k]) for k, v in t.items()}  # noqa: E731

    def personal(w_at: Params) -> torch.Tensor:
        return task.test_loss(p if ditto else {k: w_at[k][:, None] + p[k] for k in w}).mean(1)

    def density() -> torch.Tensor:
        nz = sum((v != 0).flatten(2).sum(-1) for v in p.values())
        return nz.sum(1) / (n * sum(int(torch.Size(s).numel()) for s in shapes.values()))

    # rank of each matrix of w^t: of the server's thresholded SVD (exact zeros), for w⁰ numerical
    rank = {k: torch.linalg.matrix_rank(w[k]) for k in matrices}

    def ranks_of() -> torch.Tensor:
        if not matrices:
            return torch.zeros(S, 0, dtype=torch.long, device=device)
        return torch.stack([rank[k] for k in matrices], -1)

    out: dict[str, list] = {k: [] for k in ("test_global", "test_personal", "rank", "density", "downlink",
                                            "uplink", "active")}
    rec: dict[str, list] = {}
    w_stage2 = {k: v.clone() for k, v in w.items()}

    def snapshot(t: int) -> None:
        out["test_global"].append(task.test_loss(expand(w)).mean(1))
        out["test_personal"].append(personal(w))
        out["rank"].append(ranks_of())
        out["density"].append(density())
        if t in record:
            for k in w:
                rec.setdefault(f"w/{k}", []).append(w[k].clone())
                rec.setdefault(f"p/{k}", []).append(p[k].clone())
                rec.setdefault(f"w_stage2/{k}", []).append(w_stage2[k].clone())

    def batch() -> torch.Tensor | None:
        if cfg.batch_size is None:
            return None
        draw = seeding.draw(g_batch, torch.rand, (n, task.m))
        return draw.argsort(-1)[..., : cfg.batch_size].to(device)  # (S, n, B): without replacement

    snapshot(0)
    for t in range(cfg.rounds):
        lr = cfg.lr * cfg.lr_decay**t
        active = seeding.draw(g_part, torch.rand, (n,)) < cfg.participation  # (S, n)
        none = ~active.any(1)
        while none.any():  # the code redraws a round with no client
            redraw = seeding.draw(g_part, torch.rand, (n,)) < cfg.participation
            active[none] = redraw[none]
            none = ~active.any(1)
        act = active.to(device=device, dtype=dtype)
        a_b = {k: act.view(S, n, *([1] * len(s))) for k, s in shapes.items()}
        # stage 1 on every client (inactive ones are discarded by the masks)
        w_t = expand(w)
        wi = {k: v.clone() for k, v in w_t.items()}
        # ∇ of the local objective: g − μ + α(w − wᵗ) + wd·w = g + (α + wd)·w − (μ + α·wᵗ); the last term is fixed
        anchor = {k: mu[k] + cfg.alpha_coef * w_t[k] for k in wi}
        shrink = cfg.alpha_coef + cfg.weight_decay
        for _ in range(cfg.local_steps):
            g = task.grads(wi, batch())
            wi = {k: wi[k] - lr * (g[k] + shrink * wi[k] - anchor[k]) for k in wi}
        if cfg.alpha_coef > 0:
            mu = {k: mu[k] + a_b[k] * cfg.alpha_coef * (w_t[k] - wi[k]) for k in mu}
        # server
        count = act.sum(1)
        v = {k: (a_b[k] * wi[k]).sum(1) / count.view(S, *([1] * len(shapes[k]))) for k in wi}
        if cfg.alpha_coef > 0:
            v = {k: v[k] - mu[k].sum(1) / (cfg.alpha_coef * n) for k in v}
        down = torch.zeros(S, dtype=torch.float64)
        for k in matrices:  # λ = 0 (FedDyn, FedAvg): τ = 0, the rank is the count of non-zero singular values
            v[k], rank[k], dec = svt(v[k], cfg.nuclear_weight / cfg.alpha_coef if cfg.nuclear_weight > 0 else 0.0)
            down += downlink_count(dec, rank[k])
        for k in shapes:
            if k not in matrices:
                down += v[k][0].numel()  # 1-D parameters: dense
        w_old, w = w, v
        # stage 2 on the active clients
        if cfg.stage2 and cfg.personal_steps > 0:
            w_fix = expand(w_old if cfg.stage2_at == "received" else w)
            pi = {k: v.clone() for k, v in p.items()}
            for _ in range(cfg.personal_steps):
                if ditto:
                    g = task.grads(pi, batch())
                    pi = {k: pi[k] - lr * (g[k] + cfg.ditto_weight * (pi[k] - w_fix[k])) for k in pi}
                    continue
                g = task.grads({k: w_fix[k] + pi[k] for k in pi}, batch())
                pi = {k: torch.nn.functional.softshrink(pi[k] - lr * (g[k] + cfg.personal_weight_decay * pi[k]),
                                                         cfg.l1_weight * lr) if cfg.l1_weight > 0
                      else pi[k] - lr * (g[k] + cfg.personal_weight_decay * pi[k]) for k in pi}
            p = {k: torch.where(a_b[k] > 0, pi[k], p[k]) for k in p}
            w_stage2 = w_old if cfg.stage2_at == "received" else w
        out["downlink"].append(down)
        out["uplink"].append(count.to(torch.float64) * sum(int(torch.Size(s).numel()) for s in shapes.values()))
        out["active"].append(count)
        snapshot(t + 1)
    res = {k: torch.stack(v, 1) for k, v in out.items()}
    res.update({k: torch.stack(v, 1) for k, v in rec.items()})
    return res
