"""FedSLR's MiniLM task: its batched forward is the peft model's, its gradients are each client's own."""

import numpy as np
import pytest
import torch

from fedtheory.simulators.fedslr.algorithm import FedSLRConfig, run_fedslr
from fedtheory.simulators.fedslr.minilm import MiniLMConfig, MiniLMTask
from fedtheory.simulators.shared.minilm import mask4d

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")

SMALL = dict(n=2, m=4, alpha=0.5, test_per_client=3, train_examples=40, test_examples=20, max_length=16)


@pytest.fixture(scope="module", params=["dense", "lora"])
def task(request):
    return MiniLMTask(MiniLMConfig(**SMALL, parametrisation=request.param), [0, 1])


def _perturbed(task, scale=0.01):
    """The initial parameters plus a seeded perturbation, expanded to (S, n, …) and different per client."""
    g = torch.Generator().manual_seed(5)
    return {k: v[:, None].expand(-1, task.n, *v.shape[1:]) + scale * torch.randn(v.shape[0], task.n, *v.shape[1:],
                                                                              generator=g, dtype=v.dtype)
            for k, v in task.init().items()}


def test_the_batched_forward_is_the_peft_models(task):
    w = _perturbed(task)
    z = task.logits(w, task.pos)
    for s in range(2):
        for i in range(task.n):
            params = task._peft_params({k: v[s, i] for k, v in w.items()})
            p = task.pos[s, i]
            ref = task.top.functional(params, task.hidden[p], mask4d(task.mask[p], task.dtype))
            torch.testing.assert_close(z[s, i], ref, rtol=1e-5, atol=1e-6)


def test_at_the_start_the_update_is_zero(task):
    # ΔW = 0 (dense) or B = 0 (LoRA): the adapted matrices are W₀, so both parametrisations give one model
    w = {k: v[:, None].expand(-1, task.n, *v.shape[1:]) for k, v in task.init().items()}
    params = task._peft_params({k: v[0, 0] for k, v in w.items()})
    own = {n: p for n, p in task.model.named_parameters()}
    for t, mod in task._module.items():
        key = mod + ".base_layer.weight"
        if key in params:
            torch.testing.assert_close(params[key], own[key], rtol=0, atol=0)
        else:
            assert torch.count_nonzero(params[mod + ".lora_B.default.weight"]) == 0


def test_gradients_are_each_clients_own(task):
    w = _perturbed(task)
    g = task.grads(w)
    for s, i in [(0, 0), (1, 1)]:
        leaves = {k: v[s, i].detach().clone().requires_grad_(True) for k, v in w.items()}
        p = task.pos[s, i]
        z = task.top.functional(task._peft_params(leaves), task.hidden[p], mask4d(task.mask[p], task.dtype))
        loss = torch.nn.functional.cross_entropy(z, task.Y[s, i])
        ref = torch.autograd.grad(loss, list(leaves.values()))
        for k, r in zip(leaves, ref):
            torch.testing.assert_close(g[k][s, i], r, rtol=1e-4, atol=1e-7)


def test_a_run_is_deterministic_and_counts_the_factors(task):
    cfg = FedSLRConfig(rounds=2, local_steps=1, personal_steps=1, lr=0.1, batch_size=2, nuclear_weight=1e-3,
                       p_init="zeros")
    a, b = (run_fedslr(task, cfg, seeds=[0, 1]) for _ in range(2))
    for k in a:
        np.testing.assert_array_equal(a[k].numpy(), b[k].numpy())
    assert a["rank"].shape == (2, 3, len(task.cfg.targets) * (1 if task.cfg.parametrisation == "dense" else 2) + 1)
    dense = sum(v[0].numel() for v in task.init().values())
    assert torch.all(a["uplink"] == 2 * dense)


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="parametrisation"):
        MiniLMConfig(parametrisation="sparse")
    with pytest.raises(ValueError, match="targets"):
        MiniLMConfig(targets=("embeddings",))
    with pytest.raises(ValueError, match="m must lie"):
        MiniLMConfig(n=10, m=200, train_examples=1000)
