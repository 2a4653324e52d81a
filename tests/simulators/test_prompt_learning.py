"""Invariants of the Gaussian prompt-learning simulator (PromptFolio)."""

import numpy as np
import pytest
import torch

from fedtheory.simulators.promptfolio.prompt_learning import PromptFolioConfig, simulate_promptfolio

SMALL = dict(d=300, m=8, snr=0.1, rounds=4, local_steps=3, n_test=500, theta_points=11)


@pytest.fixture(scope="module")
def run():
    cfg = PromptFolioConfig(**SMALL, n=4, h=[0.0, 0.6])
    return cfg, simulate_promptfolio(cfg, seeds=[0, 1, 2], dtype=torch.float64)


def test_shapes(run):
    cfg, r = run
    S, H, n = 3, 2, 4
    assert r.acc.shape == (S, H, n, 11)
    assert r.m_local.shape == r.s_cross.shape == (S, H, n)
    assert r.gamma_local.shape == (S, H, n, cfg.rounds * cfg.local_steps + 1)
    assert r.gamma_global.shape == (S, H, n, cfg.rounds + 1)
    assert r.prompt_local.shape == (S, H, n, cfg.d)


def test_signal_bookkeeping_is_exact(run):
    # the local prompt's signal part is γ_k µ_k/‖µ_k‖², so ⟨p_L, µ_k⟩ = γ_k exactly; p_G on client k
    # sees Σ_j γ_j^G ⟨µ_j, µ_k⟩/‖µ‖² = (1−h)Σ_j γ_j^G + h γ_k^G
    cfg, r = run
    torch.testing.assert_close(r.m_local, r.gamma_local[..., -1])
    h = torch.tensor(cfg.h_values, dtype=torch.float64)[None, :, None]
    gG = r.gamma_global[..., -1]
    torch.testing.assert_close(r.m_global, (1 - h) * gG.sum(-1, keepdim=True) + h * gG)


def test_noise_is_orthogonal_to_the_signal_span(run):
    cfg, r = run
    # signal coordinates 0..n hold only γ-parts: ‖P_⊥p‖ is the norm of the remaining coordinates
    noise_part = r.prompt_local[..., cfg.n + 1 :]
    torch.testing.assert_close(r.s_local, cfg.sigma_p * noise_part.norm(dim=-1))


def test_first_step_is_exactly_stage_one(run):
    cfg, r = run
    # p⁽⁰⁾ = 0 ⇒ every margin is 0 and |ℓ'| = 1/2: γ(1) = η‖µ‖²/2 exactly
    torch.testing.assert_close(r.gamma_local[..., 1], torch.full_like(r.gamma_local[..., 1],
                               cfg.step_size * cfg.mu_norm**2 / 2))


def test_one_client_global_equals_local():
    cfg = PromptFolioConfig(**SMALL, n=1, h=0.5)
    r = simulate_promptfolio(cfg, seeds=[3], dtype=torch.float64)
    torch.testing.assert_close(r.prompt_global[:, :, None], r.prompt_local)
    assert torch.all(r.acc == r.acc[..., :1])  # p_θ does not depend on θ


def test_seed_reproducible_and_independent_of_the_batch():
    cfg = PromptFolioConfig(**SMALL, n=3, h=0.5)
    a = simulate_promptfolio(cfg, seeds=[5, 7])
    b = simulate_promptfolio(cfg, seeds=[7])
    torch.testing.assert_close(a.acc[1:], b.acc)
    torch.testing.assert_close(a.prompt_local[1:], b.prompt_local)


def test_test_chunking_does_not_change_the_draws():
    cfg = PromptFolioConfig(**SMALL, n=2, h=0.5)
    a = simulate_promptfolio(cfg, seeds=[1], test_chunk=500)
    b = simulate_promptfolio(cfg, seeds=[1], test_chunk=500)
    torch.testing.assert_close(a.acc, b.acc)


def test_accuracy_matches_phi_of_the_margin_moments():
    # Φ(m/s) is exact for a Gaussian test distribution: the test accuracy of 20k examples must
    # agree within 4 binomial standard errors at every θ (a one-seed smoke version of claim 1)
    from fedtheory.theory import portfolio_accuracy

    cfg = PromptFolioConfig(**{**SMALL, "n_test": 20000}, n=3, h=0.5)
    r = simulate_promptfolio(cfg, seeds=[0], dtype=torch.float64)
    rho = (r.s_cross / (r.s_global * r.s_local)).numpy()
    theta = r.theta.numpy()
    pred = portfolio_accuracy(theta, *(a.numpy()[..., None] for a in (r.m_global, r.m_local, r.s_global,
                                                                          r.s_local)), rho[..., None])
    se = np.sqrt(pred * (1 - pred) / cfg.n_test)
    assert np.all(np.abs(r.acc.numpy() - pred) <= 4 * se + 1e-12)


@pytest.mark.parametrize("kw, name", [({"d": 5, "n": 4}, "d"), ({"h": 1.5}, "h"), ({"h": [0.2, 1.5]}, "h"),
                                      ({"snr": -1.0}, "snr"), ({"snr": float("nan")}, "snr"), ({"m": 0}, "m"),
                                      ({"n": 0}, "n"), ({"eta": 0.0}, "eta"), ({"theta_points": 1}, "theta_points")])
def test_bad_config_names_the_parameter(kw, name):
    with pytest.raises(ValueError, match=rf"^{name} "):
        PromptFolioConfig(**kw)


def test_the_signal_span_check_names_both_parameters():
    with pytest.raises(ValueError, match=r"d must exceed n \+ 1.*d=5, n=4"):
        PromptFolioConfig(d=5, n=4)


@pytest.mark.parametrize("name, value", [("m", 8.0), ("n", True), ("d", "300"), ("snr", "0.1"), ("sigma_p", None),
                                         ("eta", "0.1"), ("h", [0.5, "a"]), ("h", "0.5")])
def test_wrong_type_is_a_type_error(name, value):
    with pytest.raises(TypeError, match=rf"^{name} "):
        PromptFolioConfig(**{name: value})
