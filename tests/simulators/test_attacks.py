"""Shapes, hand-computed values and input checks for fedtheory.simulators.shared.attacks."""

from __future__ import annotations

import pytest
import torch

from fedtheory.simulators.shared.aggregators import make_aggregator
from fedtheory.simulators.shared.attacks import (
    ATTACK_NAMES,
    DEFAULT_TAUS,
    alie,
    gaussian,
    inner_product_manipulation,
    make_attack,
    mimic,
    optimal_alie,
    sign_flipping,
    with_byzantine,
)

# h = 4 honest 2-d vectors: mean (2, -1); population std (sqrt(2.5), 1)
HONEST = torch.tensor([[0.0, -2.0], [1.0, 0.0], [3.0, -2.0], [4.0, 0.0]], dtype=torch.float64)
MEAN = torch.tensor([2.0, -1.0], dtype=torch.float64)
STD = torch.tensor([2.5**0.5, 1.0], dtype=torch.float64)

TRMEAN = make_aggregator("trimmed_mean", 2)


def _make(name: str):
    return make_attack(name, aggregator=TRMEAN) if name == "optimal_alie" else make_attack(name)


def _rows(v: torch.Tensor, f: int) -> torch.Tensor:
    return v.expand(f, -1)


@pytest.mark.parametrize(
    "attack, expected",
    [
        (lambda h, f: sign_flipping(h, f), -MEAN),
        (lambda h, f: alie(h, f), MEAN + 1.5 * STD),
        (lambda h, f: alie(h, f, tau=-2.0), MEAN - 2.0 * STD),
        (lambda h, f: inner_product_manipulation(h, f), -0.1 * MEAN),
        (lambda h, f: inner_product_manipulation(h, f, tau=2.0), -2.0 * MEAN),
        (lambda h, f: mimic(h, f), HONEST[0]),
        (lambda h, f: mimic(h, f, index=2), HONEST[2]),
    ],
)
def test_attack_values_hand(attack, expected):
    out = attack(HONEST, 3)
    assert out.shape == (3, 2) and out.dtype == HONEST.dtype
    assert torch.allclose(out, _rows(expected, 3))


@pytest.mark.parametrize("name", [n for n in ATTACK_NAMES if n != "none"])
def test_shapes_batched_and_f_zero(name):
    attack = _make(name)
    honest = torch.randn(3, 2, 6, 4)
    gen = torch.Generator().manual_seed(0)
    assert attack(honest, 2, generator=gen).shape == (3, 2, 2, 4)
    assert attack(honest, 0, generator=gen).shape == (3, 2, 0, 4)
    assert attack(honest[0, 0], 5, generator=gen).shape == (5, 4)


@pytest.mark.parametrize("name", [n for n in ATTACK_NAMES if n not in ("none", "gaussian")])
def test_deterministic_attacks_batched_equal_loop(name):
    attack = _make(name)
    honest = torch.randn(3, 6, 2, dtype=torch.float64)
    batched = attack(honest, 2)
    for i in range(3):
        assert torch.allclose(batched[i], attack(honest[i], 2))


def test_none_attack():
    attack = make_attack("none")
    assert attack(HONEST, 0).shape == (0, 2)
    with pytest.raises(ValueError, match=r"f must be 0"):
        attack(HONEST, 1)


def test_gaussian_reproducible_and_scaled():
    honest = torch.zeros(2, 5, 3)
    a = gaussian(honest, 4, generator=torch.Generator().manual_seed(11), sigma=2.0)
    b = gaussian(honest, 4, generator=torch.Generator().manual_seed(11), sigma=2.0)
    c = gaussian(honest, 4, generator=torch.Generator().manual_seed(12), sigma=2.0)
    assert a.shape == (2, 4, 3) and torch.equal(a, b) and not torch.equal(a, c)
    big = gaussian(torch.zeros(1, 3), 20000, generator=torch.Generator().manual_seed(0), sigma=2.0)
    assert big.std().item() == pytest.approx(2.0, rel=0.02) and abs(big.mean().item()) < 0.05
    assert torch.equal(gaussian(honest, 3, sigma=0.0), torch.zeros(2, 3, 3))


def test_with_byzantine_honest_first():
    byz = sign_flipping(HONEST, 2)
    x = with_byzantine(HONEST, byz)
    assert x.shape == (6, 2) and torch.equal(x[:4], HONEST) and torch.equal(x[4:], byz)
    with pytest.raises(ValueError, match="byz"):
        with_byzantine(HONEST, torch.zeros(2, 3, dtype=torch.float64))


def test_optimal_alie_uses_the_best_tau_per_batch_element():
    g = torch.Generator().manual_seed(5)
    honest = torch.randn(4, 7, 3, generator=g, dtype=torch.float64)
    byz = optimal_alie(honest, 2, aggregator=TRMEAN, taus=[0.0, 1.0, 2.0, 3.0])
    assert byz.shape == (4, 2, 3)
    mu, sd = honest.mean(-2), honest.std(-2, unbiased=False)
    for i in range(4):
        damages = []
        for tau in (0.0, 1.0, 2.0, 3.0):
            agg = TRMEAN(with_byzantine(honest[i], alie(honest[i], 2, tau=tau)))
            damages.append((agg - mu[i]).square().sum().item())
        best = max(range(4), key=lambda k: damages[k])
        assert torch.allclose(byz[i], _rows(mu[i] + best * sd[i], 2))


def test_optimal_alie_at_least_as_damaging_as_alie():
    g = torch.Generator().manual_seed(2)
    honest = torch.randn(50, 12, 5, generator=g, dtype=torch.float64)
    f = 3
    agg = make_aggregator("trimmed_mean", f)
    damage = lambda byz: (agg(with_byzantine(honest, byz)) - honest.mean(-2)).square().sum(-1)  # noqa: E731
    taus = sorted(set(DEFAULT_TAUS) | {1.5})
    opt, plain = damage(optimal_alie(honest, f, aggregator=agg, taus=taus)), damage(alie(honest, f, tau=1.5))
    assert bool((opt >= plain - 1e-12).all())
    # 1.5 is on the default grid too
    assert bool((damage(optimal_alie(honest, f, aggregator=agg)) >= plain - 1e-12).all())


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: sign_flipping(HONEST, -1), ValueError, r"f must lie in \[0, inf\)"),
        (lambda: sign_flipping(HONEST, 1.0), TypeError, "f must be an integer"),
        (lambda: alie(HONEST, 1, tau=float("nan")), ValueError, "tau must be finite"),
        (lambda: inner_product_manipulation(HONEST, 1, tau="x"), TypeError, "tau must be a real number"),
        (lambda: mimic(HONEST, 1, index=4), ValueError, r"index must lie in \[0, 3\]"),
        (lambda: gaussian(HONEST, 1, sigma=-1.0), ValueError, r"sigma must lie in \[0, inf\)"),
        (lambda: optimal_alie(HONEST, 1, aggregator=TRMEAN, taus=[]), ValueError, "taus"),
        (lambda: optimal_alie(HONEST, 1, aggregator=None), TypeError, "aggregator must be a callable"),
        (lambda: sign_flipping(HONEST[0], 1), ValueError, "ndim"),
        (lambda: sign_flipping(HONEST[:0], 1), ValueError, "h >= 1"),
        (lambda: make_attack("lie"), ValueError, "allowed"),
        (lambda: make_attack("alie", sigma=1.0), ValueError, "not used"),
        (lambda: make_attack("optimal_alie"), ValueError, "aggregator"),
    ],
)
def test_bad_input_raises(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_make_attack_passes_params():
    assert torch.allclose(make_attack("alie", tau=2.0)(HONEST, 1), (MEAN + 2.0 * STD).unsqueeze(0))
    assert torch.allclose(make_attack("ipm", tau=0.5)(HONEST, 1), (-0.5 * MEAN).unsqueeze(0))
    assert torch.equal(make_attack("mimic", index=3)(HONEST, 2), HONEST[3].expand(2, -1))
    gen = lambda: torch.Generator().manual_seed(4)  # noqa: E731
    assert torch.equal(make_attack("gaussian", sigma=3.0)(HONEST, 2, gen()), gaussian(HONEST, 2, generator=gen(), sigma=3.0))
