"""Every simulator on every device present, and CPU/CUDA parity (skipped without CUDA).

Simulators whose random draws come from CPU generators (partitions, initializations, batches) must
give the CPU's numbers on CUDA up to float32 rounding of the arithmetic. Simulators that draw on the
device (mean estimation, PromptFolio, synthetic DP LoRA) use the device's own random streams, which
differ between CPU and CUDA; for them parity is statistical: the seed means of the outputs agree
(Welch test at the 1e-4 level, so that a correct simulator fails about once in 10,000 runs).
"""

import numpy as np
import pytest
import torch
from scipy import stats as sps

from fedtheory.simulators.byzantine.mean_estimation import MeanEstimationConfig, simulate_mean_estimation
from fedtheory.simulators.byzantine.personalized_gd import IPGDConfig, make_federated_task, run_ipgd
from fedtheory.simulators.la_lora.dp_lora import DPLoRAConfig, simulate_dp_lora
from fedtheory.simulators.promptfolio.feature_portfolio import FeaturePortfolioConfig, simulate_feature_portfolio
from fedtheory.simulators.promptfolio.prompt_learning import PromptFolioConfig, simulate_promptfolio

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
SEEDS = list(range(48))


def _toy_data(n=600, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(np.int64)
    return X, y


def _runs(device):
    """One small run of each simulator on ``device``: {name: {output: array (S, ...)}}."""
    me = simulate_mean_estimation(MeanEstimationConfig(n=40, f=5, m=10), seeds=SEEDS, device=device)
    pf = simulate_promptfolio(PromptFolioConfig(d=200, m=10, n=4, h=0.5, rounds=5, n_test=200), seeds=SEEDS[:16],
                              device=device)
    dp = simulate_dp_lora(DPLoRAConfig(d=8, classes=3, r=2, n=3, m=32, n_test=60, rounds=3,
                                       local_steps=2, noise_multiplier=1.0), "la_lora", seeds=SEEDS[:16], device=device)
    X, y = _toy_data()
    task = make_federated_task(X, y, X, y, n=8, f=2, m=40, alpha=1.0, seeds=[0, 1], device=device)
    gd = run_ipgd(task, IPGDConfig(lams=(0.0, 0.5, 1.0), T=30, lr=0.5), seeds=[0, 1])
    Xf = np.random.default_rng(1).normal(size=(900, 12)).astype(np.float32)
    Xf /= np.linalg.norm(Xf, axis=1, keepdims=True)
    yf = (Xf[:, 0] > 0).astype(np.int64)
    fp = simulate_feature_portfolio(Xf, yf, FeaturePortfolioConfig(n=3, rounds=3, local_steps=2), seeds=[0, 1],
                                    device=device)
    return {
        "mean_estimation": {"a": me.a, "b": me.b, "c": me.c},
        "promptfolio": {"acc": pf.acc, "m_global": pf.m_global},
        "dp_lora": {"acc": dp["acc"], "loss": dp["loss"]},
        "personalized_gd": {"theta": gd.theta, "objective": gd.objective},
        "feature_portfolio": {k: fp[k] for k in ("acc", "val_m_global")},
    }


def _np(x):
    return x.detach().double().cpu().numpy()


@pytest.fixture(scope="module")
def cpu_runs():
    return _runs("cpu")


def test_every_simulator_runs_on_every_device_present(device):
    for name, out in _runs(device).items():
        for key, v in out.items():
            assert torch.isfinite(torch.as_tensor(v).double()).all(), (name, key, device)


@needs_cuda
def test_cpu_generators_give_the_cpu_numbers_on_cuda(cpu_runs):
    cuda = _runs("cuda")
    for name in ("personalized_gd", "feature_portfolio"):
        for key, v in cpu_runs[name].items():
            np.testing.assert_allclose(_np(cuda[name][key]), _np(v), rtol=1e-3, atol=1e-4, err_msg=f"{name}.{key}")


@needs_cuda
def test_device_generators_agree_in_distribution(cpu_runs):
    cuda = _runs("cuda")
    for name in ("mean_estimation", "promptfolio", "dp_lora"):
        for key, v in cpu_runs[name].items():
            a, b = _np(v).reshape(len(v), -1).mean(1), _np(cuda[name][key]).reshape(len(v), -1).mean(1)
            p = sps.ttest_ind(a, b, equal_var=False).pvalue if np.ptp(np.r_[a, b]) > 0 else 1.0
            assert p > 1e-4, (name, key, a.mean(), b.mean(), p)
