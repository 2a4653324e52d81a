"""FedPFT's MiniLM proxy: keep-all is the full model bit for bit, pruning keeps the salient neurons, LoRA moves over."""

import numpy as np
import pytest
import torch

from fedtheory.simulators.fedpft.proxy_model import D_FF, compress_ffn, kept_neurons, load_proxy
from fedtheory.simulators.shared.minilm import load_state, trainable_state
from fedtheory.theory.proxy_tuning import saliency

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")]


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(0)
    return {"input_ids": torch.randint(1000, 5000, (3, 12), generator=g), "attention_mask": torch.ones(3, 12, dtype=torch.long)}


def _layer(model, i):
    return model.base_model.model.bert.encoder.layer[i]


def test_keeping_every_neuron_is_the_full_model(batch):
    full, same = load_proxy("full"), load_proxy("full")
    compress_ffn(same, layers=(1, 2, 3, 4), keep=D_FF)
    with torch.no_grad():
        torch.testing.assert_close(same(**batch).logits, full(**batch).logits, rtol=0, atol=0)


def test_pruning_keeps_the_salient_neurons_and_leaves_other_layers_alone(batch):
    full, proxy = load_proxy("full"), load_proxy("saliency", keep=384)
    for i in (1, 4):
        up, down = _layer(full, i).intermediate.dense, _layer(full, i).output.dense
        s = saliency(up.weight.double().numpy(), down.weight.double().numpy())
        idx = kept_neurons(up.weight, down.weight, 384)
        assert s[idx.numpy()].min() >= np.sort(s)[-384]  # the 384 largest
        torch.testing.assert_close(_layer(proxy, i).intermediate.dense.weight, up.weight[idx], rtol=0, atol=0)
        torch.testing.assert_close(_layer(proxy, i).output.dense.weight, down.weight[:, idx], rtol=0, atol=0)
    for i in (0, 5):  # the first and last layer are the full model's, bit for bit
        for (n, p), (_, q) in zip(_layer(full, i).named_parameters(), _layer(proxy, i).named_parameters()):
            assert torch.equal(p, q), n
    assert _layer(proxy, 2).intermediate.dense.out_features == 384
    random = load_proxy("random", keep=384)
    assert not torch.equal(_layer(random, 2).intermediate.dense.weight, _layer(proxy, 2).intermediate.dense.weight)


def test_adapters_move_between_proxy_and_full_model_without_loss(batch):
    full, proxy = load_proxy("full"), load_proxy("saliency")
    state = trainable_state(proxy)
    g = torch.Generator().manual_seed(1)
    moved = {k: v + 0.01 * torch.randn(v.shape, generator=g) for k, v in state.items()}
    load_state(proxy, moved)
    load_state(full, trainable_state(proxy))  # same names: the adapters sit on attention, untouched by pruning
    for k, v in trainable_state(full).items():
        assert torch.equal(v, moved[k]), k
    with pytest.raises(ValueError, match="kind"):
        load_proxy("layer_dropping")


def test_distillation_lowers_the_hidden_state_error_and_its_weights_travel():
    import copy

    from fedtheory.simulators.fedpft.distill import corpus_tokens, distill_ffn, ffn_state, hidden_error, load_ffn_state

    full = load_proxy("full")
    proxy = copy.deepcopy(full)
    compress_ffn(proxy, layers=(2,))
    ids, mask = corpus_tokens(64, 16)
    test_ids, test_mask = corpus_tokens(32, 16, offset=64)
    before = hidden_error(full, proxy, test_ids, test_mask)
    losses = distill_ffn(full, proxy, [2], ids, mask, epochs=2, batch=16)
    after = hidden_error(full, proxy, test_ids, test_mask)
    assert before[:2].tolist() == [0.0, 0.0] and after[:2].tolist() == [0.0, 0.0]  # layers below 2 untouched
    assert after[2] < before[2] and losses[-1] < losses[0]  # on texts it never saw
    fresh = copy.deepcopy(full)
    compress_ffn(fresh, layers=(2,))
    load_ffn_state(fresh, ffn_state(proxy, [2]))
    assert np.array_equal(hidden_error(proxy, fresh, test_ids, test_mask), np.zeros(6))
