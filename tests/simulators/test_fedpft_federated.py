"""Federated LoRA through FedPFT's proxies: neuron-level alignment touches only the chosen neurons, FedOT's
emulator keeps the full model's names, and a keep-all proxy trains exactly as the full model."""

import copy

import numpy as np
import pytest
import torch

from fedtheory.simulators.fedpft.distill import distill_emulator, distill_ffn, ffn_activations
from fedtheory.simulators.fedpft.federated import ProxyLoRAConfig, run_proxy_lora, select_neurons
from fedtheory.simulators.fedpft.proxy_model import D_FF, PassThrough, compress_ffn, layer_drop, load_fedot, load_proxy
from fedtheory.simulators.shared.minilm import backbone, prefix_features, trainable_state

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")]

TINY = dict(n=2, rounds=2, local_steps=1, batch_size=4, train_examples=40, test_examples=20, apoz_examples=8,
            align_steps=1, align_batch=8, corpus_examples=16)


def _layer(model, i):
    return backbone(model).encoder.layer[i]


@pytest.fixture(scope="module")
def corpus():
    g = torch.Generator().manual_seed(0)
    return torch.randint(1000, 5000, (16, 12), generator=g), torch.ones(16, 12, dtype=torch.long)


@pytest.mark.parametrize("bad, name", [(dict(align_fraction=0.0), "align_fraction"), (dict(selection="saliency"), "selection"),
                                       (dict(lr=0.0), "lr"), (dict(rounds=0), "rounds"), (dict(align_every=-1), "align_every")])
def test_config_names_the_bad_parameter(bad, name):
    with pytest.raises(ValueError, match=name):
        ProxyLoRAConfig(**bad)


def test_select_neurons_takes_the_highest_apoz_ties_by_position_and_random_is_seeded():
    scores = {1: np.array([0.1, 0.5, 0.5, 0.0, 0.9])}
    assert select_neurons(scores, 0.4)[1].tolist() == [1, 4]  # ⌈0.4·5⌉ = 2: 0.9, then the first 0.5
    assert select_neurons(scores, 0.5)[1].tolist() == [1, 2, 4]
    draw = [select_neurons(scores, 0.4, "random", torch.Generator().manual_seed(3))[1].tolist() for _ in range(2)]
    assert draw[0] == draw[1] and len(draw[0]) == 2
    with pytest.raises(ValueError, match="fraction"):
        select_neurons(scores, 1.5)


def test_alignment_updates_only_the_chosen_neurons(corpus):
    full = load_proxy("full")
    proxy = copy.deepcopy(full)
    compress_ffn(proxy, layers=(2,), keep=16)
    before = {n: p.detach().clone() for n, p in _layer(proxy, 2).named_parameters()}
    chosen = {2: torch.tensor([0, 5, 9])}
    distill_ffn(full, proxy, [2], *corpus, epochs=2, batch=8, update=chosen)
    up, down = _layer(proxy, 2).intermediate.dense, _layer(proxy, 2).output.dense
    fixed = torch.ones(16, dtype=torch.bool)
    fixed[chosen[2]] = False
    assert torch.equal(up.weight[fixed], before["intermediate.dense.weight"][fixed])
    assert torch.equal(up.bias[fixed], before["intermediate.dense.bias"][fixed])
    assert torch.equal(down.weight[:, fixed], before["output.dense.weight"][:, fixed])
    assert torch.equal(down.bias, before["output.dense.bias"])
    assert not torch.equal(up.weight[~fixed], before["intermediate.dense.weight"][~fixed])  # the chosen ones moved
    with pytest.raises(ValueError, match="update"):
        distill_ffn(full, proxy, [2], *corpus, epochs=1, update={3: torch.tensor([0])})


def test_gelu_activations_are_collected_per_compressed_layer():
    proxy = load_proxy("saliency", keep=32)
    data = prefix_features(proxy, 0, 8, 1, 16)
    acts = ffn_activations(proxy, [1, 4], data["hidden"][:8], data["mask"][:8])
    assert set(acts) == {1, 4} and acts[1].shape == (int(data["mask"][:8].sum()), 32)
    assert float(acts[1].min()) >= -0.17 - 1e-6  # GELU's minimum, about −0.17


def test_fedot_emulator_keeps_the_full_models_names_and_distillation_lowers_its_loss(corpus):
    full = load_fedot()
    emulator = copy.deepcopy(full)
    layer_drop(emulator)
    assert isinstance(_layer(emulator, 2), PassThrough) and isinstance(_layer(emulator, 4), PassThrough)
    assert trainable_state(emulator).keys() == trainable_state(full).keys()  # LoRA only on layers 0 and 5
    assert sum(v.numel() for k, v in trainable_state(full).items() if "lora_" in k) == 6 * 4 * 2 * 8 * 384
    losses = distill_emulator(full, emulator, (1, 4), *corpus, epochs=3, batch=8)
    assert losses[-1] < losses[0]
    with pytest.raises(ValueError, match="drop"):
        layer_drop(copy.deepcopy(full), drop=(0,))


def test_a_keep_all_proxy_trains_exactly_as_the_full_model_and_alignment_reports_its_counts():
    full, same = load_proxy("full"), load_proxy("full")
    compress_ffn(same, keep=D_FF)
    a = run_proxy_lora(ProxyLoRAConfig(**TINY), full, full, seed=1)
    b = run_proxy_lora(ProxyLoRAConfig(**TINY), load_proxy("full"), same, seed=1)
    np.testing.assert_array_equal(a["train_loss"], b["train_loss"])
    np.testing.assert_array_equal(a["test_correct"], b["test_correct"])
    cfg = ProxyLoRAConfig(**TINY, align_every=1)
    c = run_proxy_lora(cfg, load_proxy("full"), load_proxy("saliency", keep=64), seed=1, compressed=(1, 2, 3, 4))
    assert c["align_rounds"].tolist() == [0] and 0 <= c["exact_zeros"][0] <= c["activations"][0]
    assert c["neurons"][0] == 4 * 64 and 0 <= c["zero_neurons"][0] <= 4 * 64 and 0 <= c["nonpositive_overlap"][0] <= 1
    with pytest.raises(ValueError, match="compressed"):
        run_proxy_lora(cfg, full, same, seed=1)
