r"""Byzantine attacks, batched over leading dimensions.

Every attack has the signature ``fn(honest, f, *, generator=None, **params)``: ``honest`` has
shape ``(..., h, d)`` (h honest vectors, any leading batch dimensions), and the result has shape
``(..., f, d)`` on the device and dtype of ``honest``: ``f`` identical copies of one vector unless
the attack is random. ``f = 0`` gives an empty ``(..., 0, d)`` tensor. Attacks follow the ByzFL
library (LPD-EPFL/byzfl); the code is our own. Build a named attack with :func:`make_attack`.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import Tensor

from fedtheory.simulators.shared.aggregators import _check_points
from fedtheory.theory._checks import check_scalar

__all__ = [
    "ATTACK_NAMES",
    "attack_against",
    "DEFAULT_TAUS",
    "with_byzantine",
    "no_attack",
    "sign_flipping",
    "alie",
    "inner_product_manipulation",
    "mimic",
    "gaussian",
    "optimal_alie",
    "make_attack",
]

#: Default τ-grid of :func:`optimal_alie`: 0, 0.25, ..., 10 (41 points).
DEFAULT_TAUS: tuple[float, ...] = tuple(0.25 * k for k in range(41))


# --------------------------------------------------------------------------- validation and helpers


def _check_honest(honest: Tensor) -> tuple[int, int]:
    """Check ``honest`` is a floating tensor of shape ``(..., h, d)`` with ``h >= 1``; return (h, d)."""
    return _check_points(honest, "honest", "h")


def _copies(v: Tensor, f: int) -> Tensor:
    """``f`` copies of the vector(s) ``v`` of shape ``(..., d)``, as a new ``(..., f, d)`` tensor."""
    return v.unsqueeze(-2).expand(*v.shape[:-1], f, v.shape[-1]).clone()


def with_byzantine(honest: Tensor, byz: Tensor) -> Tensor:
    r"""All inputs :math:`(x_1..x_h, b_1..b_f)`: ``honest (..., h, d)`` then ``byz (..., f, d)``, shape ``(..., h+f, d)``."""
    _check_honest(honest)
    if not isinstance(byz, Tensor) or byz.ndim != honest.ndim:
        raise ValueError(f"byz must be a tensor with ndim {honest.ndim} like honest, got {getattr(byz, 'shape', byz)!r}")
    if byz.shape[:-2] != honest.shape[:-2] or byz.shape[-1] != honest.shape[-1]:
        raise ValueError(
            f"byz must have shape (..., f, d) matching honest {tuple(honest.shape)} except dimension -2, "
            f"got {tuple(byz.shape)}"
        )
    return torch.cat([honest, byz.to(honest.dtype)], dim=-2)


# --------------------------------------------------------------------------- attacks


def no_attack(honest: Tensor, f: int, *, generator: torch.Generator | None = None) -> Tensor:
    """No Byzantine clients: valid only for ``f = 0``; returns an empty ``(..., 0, d)`` tensor."""
    _check_honest(honest)
    if check_scalar("f", f, int, low=0) != 0:
        raise ValueError(f"f must be 0 for attack 'none' (range [0, 0]), got {f!r}")
    return honest[..., :0, :].clone()


def sign_flipping(honest: Tensor, f: int, *, generator: torch.Generator | None = None) -> Tensor:
    r"""Sign flipping :math:`b = -\bar x_H`, :math:`\bar x_H = \frac1h \sum_i x_i`. Source: Allen-Zhu et al. 2020; ByzFL ``SignFlipping``."""
    _check_honest(honest)
    return _copies(-honest.mean(dim=-2), check_scalar("f", f, int, low=0))


def alie(honest: Tensor, f: int, *, generator: torch.Generator | None = None, tau: float | Tensor = 1.5) -> Tensor:
    r"""A Little Is Enough :math:`b = \bar x_H + \tau\,\sigma_H` with :math:`\sigma_H` the coordinate-wise
    *population* standard deviation :math:`\sqrt{\frac1h\sum_i (x_{ik} - \bar x_{Hk})^2}` (``unbiased=False``,
    so h = 1 is allowed and gives σ = 0).

    ``tau`` is a finite real, or a tensor broadcastable to the batch shape ``(...)`` (one τ per batch
    element, as :func:`optimal_alie` uses). Source: Baruch et al. 2019; ByzFL ``ALittleIsEnough``.
    """
    _check_honest(honest)
    f = check_scalar("f", f, int, low=0)
    mu = honest.mean(dim=-2)
    sigma = honest.std(dim=-2, unbiased=False)
    if isinstance(tau, Tensor):
        if not bool(torch.isfinite(tau).all()):
            raise ValueError("tau must be finite real numbers in (-inf, inf)")
        tau = tau.to(dtype=honest.dtype, device=honest.device).unsqueeze(-1)
    else:
        tau = check_scalar("tau", tau)
    return _copies(mu + tau * sigma, f)


def inner_product_manipulation(
    honest: Tensor, f: int, *, generator: torch.Generator | None = None, tau: float = 0.1
) -> Tensor:
    r"""Inner product manipulation :math:`b = -\tau\,\bar x_H` (τ a finite real, default 0.1). Source: Xie et al. 2020; ByzFL ``InnerProductManipulation``."""
    _check_honest(honest)
    tau = check_scalar("tau", tau)
    return _copies(-tau * honest.mean(dim=-2), check_scalar("f", f, int, low=0))


def mimic(honest: Tensor, f: int, *, generator: torch.Generator | None = None, index: int = 0) -> Tensor:
    r"""Mimic :math:`b = x_{\mathrm{index}}`: copy honest client ``index`` (``0 <= index < h``). Source: Karimireddy et al. 2022; ByzFL ``Mimic``."""
    h, _ = _check_honest(honest)
    index = check_scalar("index", index, int, low=0, high=h - 1)
    return _copies(honest[..., index, :], check_scalar("f", f, int, low=0))


def gaussian(honest: Tensor, f: int, *, generator: torch.Generator | None = None, sigma: float = 1.0) -> Tensor:
    r"""Gaussian noise :math:`b_j \sim \mathcal N(0, \sigma^2 I_d)` i.i.d. per Byzantine vector and batch element.

    Drawn with ``generator`` (it must live on ``honest``'s device): the same generator seed gives the
    same output. Source: ByzFL ``Gaussian``.
    """
    _check_honest(honest)
    f = check_scalar("f", f, int, low=0)
    sigma = check_scalar("sigma", sigma, low=0.0)
    shape = (*honest.shape[:-2], f, honest.shape[-1])
    noise = torch.randn(shape, generator=generator, dtype=honest.dtype, device=honest.device)
    return sigma * noise


def optimal_alie(
    honest: Tensor,
    f: int,
    *,
    aggregator: Callable[[Tensor], Tensor],
    taus: Sequence[float] | Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""ALIE with τ tuned against ``aggregator``, per batch element:

    .. math::
        \tau^* = \arg\max_{\tau \in T} \lVert F(x_H, b(\tau)) - \bar x_H \rVert^2,
        \qquad b(\tau) = \bar x_H + \tau \sigma_H,

    over the grid T (default :data:`DEFAULT_TAUS` = 0, 0.25, ..., 10; ties: first τ). All τ are
    evaluated in one call of ``aggregator`` on inputs of shape ``(|T|, ..., h+f, d)``, so it must
    accept a leading batch dimension. Source: ByzFL ``Optimal_ALIE`` (which line-searches τ);
    Baruch et al. 2019.
    """
    _check_honest(honest)
    f = check_scalar("f", f, int, low=0)
    if not callable(aggregator):
        raise TypeError(f"aggregator must be a callable (..., n, d) -> (..., d), got {aggregator!r}")
    grid = torch.as_tensor(DEFAULT_TAUS if taus is None else taus, dtype=honest.dtype, device=honest.device)
    if grid.ndim != 1 or grid.numel() == 0 or not bool(torch.isfinite(grid).all()):
        raise ValueError(f"taus must be a non-empty 1-d sequence of finite reals, got {taus!r}")
    if f == 0:
        return honest[..., :0, :].clone()
    batch = honest.shape[:-2]
    grid_b = grid.reshape(-1, *([1] * len(batch)))  # (T, 1, ..., 1)
    honest_t = honest.expand(grid.numel(), *honest.shape)  # (T, ..., h, d)
    candidates = with_byzantine(honest_t, alie(honest_t, f, tau=grid_b))
    damage = (aggregator(candidates) - honest.mean(dim=-2)).square().sum(dim=-1)  # (T, ...)
    best_tau = grid[damage.argmax(dim=0)]  # (...)
    return alie(honest, f, tau=best_tau)


# --------------------------------------------------------------------------- registry

_ATTACKS: dict[str, Callable[..., Tensor]] = {
    "none": no_attack,
    "sign_flipping": sign_flipping,
    "alie": alie,
    "ipm": inner_product_manipulation,
    "mimic": mimic,
    "gaussian": gaussian,
    "optimal_alie": optimal_alie,
}

#: Names accepted by :func:`make_attack`.
ATTACK_NAMES: tuple[str, ...] = tuple(_ATTACKS)


def attack_against(name: str, aggregator: Callable[[Tensor], Tensor], params: Mapping[str, Any] | None = None
                   ) -> Callable[..., Tensor]:
    """:func:`make_attack` for an omniscient attacker who knows the server's ``aggregator``.

    Attacks that search against the defence (``optimal_alie``) receive it as their ``aggregator``
    parameter unless ``params`` names one; the others ignore it. The one place where simulators
    wire an aggregator into an attack.
    """
    params = dict(params or {})
    if name in _ATTACKS and "aggregator" in inspect.signature(_ATTACKS[name]).parameters:
        params.setdefault("aggregator", aggregator)
    return make_attack(name, **params)


def make_attack(name: str, **params: Any) -> Callable[..., Tensor]:
    """The attack ``name`` (one of :data:`ATTACK_NAMES`) with its parameters fixed.

    Returns ``attack(honest, f, generator=None) -> byz`` of shape ``(..., f, d)``. Parameters:
    ``tau`` (alie, ipm), ``index`` (mimic), ``sigma`` (gaussian), ``aggregator`` (required) and
    ``taus`` (optimal_alie). Unknown names or parameters raise ``ValueError``.
    """
    if name not in _ATTACKS:
        raise ValueError(f"unknown attack {name!r}; allowed: {list(ATTACK_NAMES)}")
    fn = _ATTACKS[name]
    sig = inspect.signature(fn)
    accepted = [p for p, spec in sig.parameters.items() if spec.kind is spec.KEYWORD_ONLY and p != "generator"]
    unknown = set(params) - set(accepted)
    if unknown:
        raise ValueError(f"params {sorted(unknown)} are not used by attack {name!r}; accepted: {accepted}")
    required = [p for p in accepted if sig.parameters[p].default is inspect.Parameter.empty]
    missing = set(required) - set(params)
    if missing:
        raise ValueError(f"attack {name!r} needs params {sorted(missing)}")

    def attack(honest: Tensor, f: int, generator: torch.Generator | None = None) -> Tensor:
        return fn(honest, f, generator=generator, **params)

    attack.__name__ = f"{name}_attack"
    attack.__doc__ = f"Attack {name!r} with params {params!r} (see fedtheory.simulators.shared.attacks.{fn.__name__})."
    return attack
