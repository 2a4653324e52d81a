"""Closed-form oracles, batching, dtype/device and input checks for fedtheory.simulators.shared.aggregators."""

from __future__ import annotations

import itertools

import pytest
import torch

from fedtheory.simulators.shared.aggregators import (
    AGGREGATOR_NAMES,
    PREAGGREGATOR_NAMES,
    Aggregator,
    coordinate_median,
    geometric_median,
    krum,
    krum_scores,
    make_aggregator,
    mean,
    multi_krum,
    nnm,
    pairwise_sq_dists,
    server_clip,
    server_clip_count,
    static_clip,
    trimmed_mean,
)


def col(*values: float) -> torch.Tensor:
    """Column of 1-d vectors, shape (n, 1)."""
    return torch.tensor(values, dtype=torch.float64).unsqueeze(-1)


# --------------------------------------------------------------------------- closed-form oracles


def test_mean_hand():
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    assert torch.equal(mean(x), torch.tensor([2.0, 3.0]))


def test_trimmed_mean_hand():
    x = col(1, 2, 3, 100, -50)
    assert trimmed_mean(x, 1).item() == 2.0
    assert trimmed_mean(x, 0).item() == pytest.approx(56 / 5)
    assert trimmed_mean(x, 2).item() == 2.0  # n = 2f + 1: the median


def test_trimmed_mean_coordinatewise():
    x = torch.tensor([[1.0, 10.0], [2.0, -5.0], [3.0, 0.0], [4.0, 7.0]])
    # coordinate 0: drop 1 and 4 -> mean(2, 3); coordinate 1: drop -5 and 10 -> mean(0, 7)
    assert torch.equal(trimmed_mean(x, 1), torch.tensor([2.5, 3.5]))


def test_median_odd_and_even():
    assert coordinate_median(col(5, -1, 3)).item() == 3.0
    assert coordinate_median(col(5, -1, 3, 10)).item() == 4.0  # (3 + 5) / 2, not the lower median
    x = torch.tensor([[1.0, 4.0], [2.0, 1.0], [9.0, 3.0], [0.0, 2.0]])
    assert torch.equal(coordinate_median(x), torch.tensor([1.5, 2.5]))


def test_geometric_median_square_corners_is_center():
    corners = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]], dtype=torch.float64) + 3.0
    assert torch.allclose(geometric_median(corners), torch.tensor([4.0, 4.0], dtype=torch.float64))


def test_geometric_median_collinear_is_middle_point():
    pts = torch.tensor([[0.0, 0.0], [1.0, 1.0], [10.0, 10.0]], dtype=torch.float64)
    gm = geometric_median(pts, tol=1e-12, max_iter=5000)
    assert torch.allclose(gm, torch.tensor([1.0, 1.0], dtype=torch.float64), atol=1e-6)


def test_geometric_median_escapes_a_non_optimal_data_point():
    # The mean (the start) is exactly the data point 1, where Weiszfeld steps are tiny; the median is 0.003.
    x = col(-0.003, -0.001, 0.001, 0.003, 1, 3, 3)
    assert x.mean().item() == pytest.approx(1.0)
    assert geometric_median(x).item() == pytest.approx(0.003, abs=1e-9)


def test_geometric_median_in_one_dimension_is_the_median():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (400, 9, 1), generator=g)
    centers = 10 * torch.randn(400, 3, 1, generator=g, dtype=torch.float64)
    x = centers.gather(1, labels) + 0.01 * torch.randn(400, 9, 1, generator=g, dtype=torch.float64)
    x[:, 7:] = x[:, :7].mean(1, keepdim=True) + torch.arange(9, dtype=torch.float64).view(9, 1, 1)[:2].transpose(0, 1)
    spread = (x - coordinate_median(x).unsqueeze(1)).abs().median(dim=1).values
    err = (geometric_median(x) - coordinate_median(x)).abs()
    assert bool((err <= 1e-6 * spread).all()), err.max()


def test_geometric_median_minimises_sum_of_distances():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(9, 3, generator=g, dtype=torch.float64)
    z = geometric_median(x, tol=1e-12, max_iter=5000)
    cost = lambda p: torch.linalg.vector_norm(x - p, dim=-1).sum()  # noqa: E731
    for step in torch.randn(20, 3, generator=g, dtype=torch.float64) * 1e-3:
        assert cost(z) <= cost(z + step) + 1e-12


def test_krum_picks_the_tight_cluster():
    x = torch.tensor(
        [[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [0.05, 0.05], [0.2, 0.1], [50.0, 50.0], [-40.0, 30.0]]
    )
    # n = 7, f = 2: score = squared distances to the n - f - 2 = 3 nearest others; [0.05, 0.05] is central.
    assert torch.equal(krum(x, 2), torch.tensor([0.05, 0.05]))
    s = krum_scores(x, 2)
    assert s.argmin().item() == 3 and s[5] > 1000 and s[6] > 1000


def test_krum_scores_hand():
    x = col(0, 1, 3, 7, 20)  # n = 5, f = 1: sum of the 2 smallest squared distances to others
    assert torch.equal(krum_scores(x, 1), torch.tensor([1 + 9, 1 + 4, 4 + 9, 16 + 36, 169 + 289], dtype=torch.float64))
    assert krum(x, 1).item() == 1.0


def test_multi_krum_hand():
    x = col(0, 1, 3, 7, 20)
    assert multi_krum(x, 1).item() == pytest.approx((0 + 1 + 3 + 7) / 4)  # q = n - f = 4
    assert multi_krum(x, 1, q=2).item() == pytest.approx(0.5)
    assert multi_krum(x, 1, q=1).item() == krum(x, 1).item()


def test_pairwise_sq_dists_hand():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])
    expected = torch.tensor([[0.0, 25.0, 1.0], [25.0, 0.0, 20.0], [1.0, 20.0, 0.0]])
    assert torch.allclose(pairwise_sq_dists(x), expected)


def test_nnm_hand():
    x = col(1, 2, 3, 100, -50)  # f = 1: each point averages its 4 nearest (itself included)
    expected = col(-11, -11, -11, 26.5, -11)
    assert torch.allclose(nnm(x, 1), expected)
    assert torch.allclose(nnm(x, 0), x.mean(-2, keepdim=True).expand_as(x))


def test_nnm_ties_do_not_break_it():
    x = col(0, 0, 0, 5, 5)  # n = 5, f = 2: 3 nearest; the zeros tie with each other, the fives with each other
    assert torch.allclose(nnm(x, 2), col(0, 0, 0, 10 / 3, 10 / 3))
    same = torch.ones(6, 3)
    assert torch.equal(nnm(same, 2), same)


def test_static_clip_hand():
    x = torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    out = static_clip(x, 1.0)
    assert torch.allclose(out, torch.tensor([[0.6, 0.8], [0.3, 0.4], [0.0, 0.0]]))


def test_server_clip_count():
    # k = floor(f (1 + f/(n - 2f))) when f < n/3, else f
    assert server_clip_count(10, 0) == 0
    assert server_clip_count(10, 2) == 2  # floor(2 * (1 + 2/6)) = floor(2.67)
    assert server_clip_count(10, 3) == 5  # 3 < 10/3: floor(3 * (1 + 3/4)) = floor(5.25)
    assert server_clip_count(9, 3) == 3  # f = n/3 -> f
    assert server_clip_count(600, 100) == 125


def test_server_clip_hand():
    x = col(1, -2, 3, 100, -50)  # n = 5, f = 1 -> k = 1: the largest norm (100) is clipped to 50
    assert torch.equal(server_clip(x, 1), col(1, -2, 3, 50, -50))
    y = torch.tensor([[6.0, 8.0], [0.0, 1.0], [0.0, -2.0], [3.0, 0.0], [0.0, 0.5], [0.0, 0.0], [0.1, 0.0]])
    # n = 7, f = 2 -> k = floor(2 (1 + 2/3)) = 3: norms 10, 3, 2 clipped to the 4th largest, 1
    out = server_clip(y, 2)
    norms = torch.linalg.vector_norm(out, dim=-1)
    assert torch.allclose(norms, torch.tensor([1.0, 1.0, 1.0, 1.0, 0.5, 0.0, 0.1]))
    assert torch.allclose(out[0], torch.tensor([0.6, 0.8]))
    assert torch.equal(server_clip(y, 0), y)


# --------------------------------------------------------------------------- composition


def test_make_aggregator_chains():
    x = col(1, 2, 3, 100, -50)
    assert make_aggregator("trimmed_mean", 1)(x).item() == 2.0
    assert torch.equal(make_aggregator("nnm+trimmed_mean", 1)(x), trimmed_mean(nnm(x, 1), 1))
    chain = make_aggregator("server_clip+nnm+trimmed_mean", 1)
    assert torch.equal(chain(x), trimmed_mean(nnm(server_clip(x, 1), 1), 1))
    assert chain.rule == "server_clip+nnm+trimmed_mean" and chain.f == 1
    assert torch.equal(make_aggregator("clip+median", 1, clip_norm=2.0)(x), coordinate_median(static_clip(x, 2.0)))
    assert make_aggregator("multi_krum", 1, q=2)(col(0, 1, 3, 7, 20)).item() == pytest.approx(0.5)
    assert isinstance(make_aggregator("mean", 0), Aggregator)


def test_names_exported():
    assert set(AGGREGATOR_NAMES) == {"mean", "median", "trimmed_mean", "geometric_median", "krum", "multi_krum"}
    assert set(PREAGGREGATOR_NAMES) == {"nnm", "clip", "server_clip"}


@pytest.mark.parametrize(
    "rule, params, match",
    [
        ("average", {}, "allowed"),
        ("nnm", {}, "allowed"),  # a pre-aggregator cannot come last
        ("median+nnm", {}, "allowed"),
        ("", {}, "rule"),
        ("clip+median", {}, "clip_norm"),
        ("clip+median", {"clip_norm": -1.0}, "clip_norm"),
        ("median", {"q": 2}, "not used"),
        ("geometric_median", {"tol": 0.0}, "tol"),
    ],
)
def test_make_aggregator_rejects(rule, params, match):
    with pytest.raises(ValueError, match=match):
        make_aggregator(rule, 1, **params)


def test_make_aggregator_rejects_bad_f():
    with pytest.raises(ValueError, match=r"f must lie in \[0, inf\)"):
        make_aggregator("median", -1)
    with pytest.raises(TypeError, match="f must be an integer"):
        make_aggregator("median", 1.5)


# --------------------------------------------------------------------------- batching, dtype, device

ALL_RULES = [
    "mean",
    "median",
    "trimmed_mean",
    "geometric_median",
    "krum",
    "multi_krum",
    "nnm+trimmed_mean",
    "server_clip+nnm+trimmed_mean",
    "clip+median",
    "nnm+geometric_median",
]


def _params(rule: str) -> dict:
    return {"clip_norm": 1.5} if rule.startswith("clip") else {}


@pytest.mark.parametrize("rule", ALL_RULES)
def test_batched_equals_loop(rule):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(3, 2, 9, 4, generator=g, dtype=torch.float64) * torch.rand(3, 2, 9, 1, generator=g, dtype=torch.float64) * 5
    agg = make_aggregator(rule, 2, **_params(rule))
    batched = agg(x)
    assert batched.shape == (3, 2, 4)
    for i, j in itertools.product(range(3), range(2)):
        assert torch.allclose(batched[i, j], agg(x[i, j]), rtol=1e-10, atol=1e-10), (i, j)


@pytest.mark.parametrize("fn", [lambda x: nnm(x, 2), lambda x: server_clip(x, 2), lambda x: static_clip(x, 1.0)])
def test_preaggregators_batched_equals_loop(fn):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 8, 3, generator=g)
    batched = fn(x)
    assert batched.shape == x.shape
    for i in range(4):
        assert torch.allclose(batched[i], fn(x[i]), atol=1e-6)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("rule", ALL_RULES)
def test_dtype_and_device_preserved(rule, dtype, device):
    x = torch.randn(2, 7, 3, dtype=dtype, device=device)
    out = make_aggregator(rule, 1, **_params(rule))(x)
    assert out.shape == (2, 3) and out.dtype == dtype and out.device == x.device
    for pre in (nnm(x, 1), server_clip(x, 1), static_clip(x, 1.0)):
        assert pre.shape == x.shape and pre.dtype == dtype and pre.device == x.device


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda x: trimmed_mean(x, 3), ValueError, r"f must lie in \[0, 2\] \(n > 2f"),  # n = 5 needs n > 2f
        (lambda x: trimmed_mean(x, -1), ValueError, r"f must lie in \[0, inf\)"),
        (lambda x: trimmed_mean(x, 1.0), TypeError, "f must be an integer"),
        (lambda x: krum(x, 2), ValueError, r"f must lie in \[0, 1\] \(n > 2f \+ 2"),  # n = 5 needs n > 2f + 2
        (lambda x: multi_krum(x, 1, q=6), ValueError, r"q must lie in \[1, 5\]"),
        (lambda x: multi_krum(x, 1, q=0), ValueError, r"q must lie in \[1, 5\]"),
        (lambda x: nnm(x, 5), ValueError, r"f must lie in \[0, 4\]"),
        (lambda x: server_clip(x, 5), ValueError, r"f must lie in \[0, 4\]"),
        (lambda x: static_clip(x, 0.0), ValueError, r"c must lie in \(0, inf\)"),
        (lambda x: static_clip(x, "1"), TypeError, "c must be a real number"),
        (lambda x: geometric_median(x, max_iter=0), ValueError, r"max_iter must lie in \[1, inf\)"),
        (lambda x: geometric_median(x, eps=-1.0), ValueError, r"eps must lie in \(0, inf\)"),
        (lambda x: mean(x[0]), ValueError, "ndim"),
        (lambda x: mean(x.long()), TypeError, "floating"),
        (lambda x: mean(x.numpy()), TypeError, "torch.Tensor"),
        (lambda x: make_aggregator("trimmed_mean", 3)(x), ValueError, r"f must lie in \[0, 2\]"),
    ],
)
def test_bad_input_raises(call, error, match):
    x = torch.randn(5, 2)
    with pytest.raises(error, match=match):
        call(x)


# --------------------------------------------------------------------------- NNM fast paths
def _nnm_by_definition(x: torch.Tensor, f: int) -> torch.Tensor:
    """Brute force: for every i, the mean of the n − f vectors nearest to x_i (a loop, on purpose)."""
    n = x.shape[-2]
    out = torch.empty_like(x)
    for i in range(n):
        dist = ((x - x[..., i : i + 1, :]) ** 2).sum(-1)
        idx = dist.argsort(dim=-1, stable=True)[..., : n - f]
        out[..., i, :] = torch.take_along_dim(x, idx[..., None], dim=-2).mean(-2)
    return out


@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("n,f", [(2, 1), (5, 2), (9, 1), (40, 13), (60, 0)])
def test_nnm_matches_its_definition(n, f, d):
    g = torch.Generator().manual_seed(n * 100 + f * 10 + d)
    x = torch.randn(4, n, d, generator=g, dtype=torch.float64) * torch.rand(4, 1, 1, generator=g, dtype=torch.float64)
    got = nnm(x, f)
    assert torch.allclose(got, _nnm_by_definition(x, f), atol=1e-12)


def test_nnm_1d_with_tied_byzantine_values_is_a_valid_mixing():
    # f identical Byzantine values tie in distance; which of them a window takes does not change
    # the mean, so the fast path must still reproduce the definition exactly.
    g = torch.Generator().manual_seed(0)
    honest = torch.randn(8, 30, 1, generator=g, dtype=torch.float64)
    x = torch.cat([honest, (-honest.mean(-2, keepdim=True)).expand(8, 9, 1)], dim=-2)
    got, ref = nnm(x, 9), _nnm_by_definition(x, 9)
    assert torch.allclose(got, ref, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n,f,d", [(20, 3, 35), (60, 10, 1), (61, 20, 4), (9, 4, 2)])
def test_nnm_gram_path_picks_the_exact_paths_sets(n, f, d, dtype):
    # the Gram-matrix ranking with its rounding bound must give the same neighbour sets (so the same bits) as
    # exact distances, also with duplicated rows and near-ties that the bound sends to the exact recheck
    g = torch.Generator().manual_seed(n + f + d)
    x = torch.randn(6, n, d, generator=g, dtype=dtype) * 10.0 ** torch.randint(-3, 4, (6, 1, 1), generator=g)
    x[:2, -f:] = x[:2, :1]  # duplicates: ties at every boundary
    x[2, 1] = x[2, 0] + torch.finfo(dtype).eps * x[2, 0].abs().max()  # a near-tie
    assert torch.equal(nnm(x, f, method="pairwise"), nnm(x, f, method="exact"))
    if dtype == torch.float64:  # float32 may rank a near-tie otherwise than float64's definition does
        scale = x.abs().amax((-2, -1), keepdim=True)
        assert torch.allclose(nnm(x, f, method="exact") / scale, _nnm_by_definition(x, f) / scale, atol=1e-12)


@pytest.mark.parametrize("d", [2, 16, 17, 40])
def test_nnm_auto_takes_exact_distances_up_to_its_d_then_the_gram_path_with_the_same_bits(d, monkeypatch):
    import fedtheory.simulators.shared.aggregators as agg

    g = torch.Generator().manual_seed(d)
    x = torch.randn(3, 40, d, generator=g, dtype=torch.float64)
    x[:, -6:] = -x[:, :-6].mean(-2, keepdim=True)  # f identical sign-flipping copies: ties at many boundaries
    exact, gram = nnm(x, 6, method="exact"), nnm(x, 6, method="pairwise")
    calls = []
    farthest = agg._farthest
    monkeypatch.setattr(agg, "_farthest", lambda *a: calls.append(1) or farthest(*a))
    auto = nnm(x, 6)
    assert torch.equal(auto, exact) and torch.equal(auto, gram)
    assert bool(calls) == (d > agg.NNM_EXACT_MAX_D) and agg.NNM_EXACT_MAX_D == 16  # as the README's table says


def test_nnm_chunks_the_batch_without_changing_a_bit(monkeypatch):
    import fedtheory.simulators.shared.aggregators as agg

    x = torch.randn(2, 5, 30, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    whole = nnm(x, 7)
    monkeypatch.setattr(agg, "NNM_BLOCK", 3 * 30 * 30)  # 3 sets per chunk: chunks of 3, 3, 3, 1
    assert torch.equal(nnm(x, 7), whole)


def test_nnm_1d_float32_is_as_accurate_as_the_pairwise_path():
    # n = 600 values far from 0: running sums in float32 lost ~n·u of the largest input (4e-6 relative)
    x = (torch.randn(20, 600, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 3 + 1e3)
    ref = nnm(x, 100, method="exact")
    scale = x.abs().amax()
    windows = (nnm(x.float(), 100).double() - ref).abs().max() / scale
    pairwise = (nnm(x.float(), 100, method="pairwise").double() - ref).abs().max() / scale
    assert windows <= max(pairwise, torch.finfo(torch.float32).eps)
