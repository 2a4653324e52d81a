r"""Cost model of fine-tuning through a proxy sub-model (FedPFT §3.6, arXiv 2404.11536), and Table 1's counts.

Notation of §3.6: d = d_model, d_ff the FFN width (d_ff = 4d in BERT), S the sequence length, L the layers,
V the vocabulary, c_f and c_b the costs of a forward and a backward pass in units of one forward.

- Computation (§3.6.1, multiply-adds): a layer costs :math:`4Sd^2 + S^2d` (attention) :math:`+ 2Sd\,d_{ff}`
  (FFN) :math:`+ Sd` (add & norm), the embedding :math:`d(V+S)`; with d_ff = 4d the model costs
  :math:`d(V+S) + L(c_f+c_b)(12Sd^2 + S^2d)` and the proxy with d_ff′ = d about :math:`L(c_f+c_b)(6Sd^2 + S^2d)`.
- Communication (§3.6.2, floats per round): the full model :math:`d(V+S) + 12Ld^2 + 2Ld`, the proxy without
  PEFT :math:`d(V+S) + 6Ld^2 + 2Ld`, and with LoRA of rank r on the four attention matrices
  :math:`8Lrd + \frac2t qLd^2` (the second term: every t rounds, a fraction q of the compressed FFNs' neurons,
  2d weights each, is re-aligned and downloaded).

Table 1 lists 81M parameters for BERT/RoBERTa-base and 47M for the proxies (**derived** here:
:func:`transformer_weight_count` — the weight matrices of the encoder layers, :math:`12d^2` per full layer
and :math:`4d^2 + 2d\,d_{ff}'` per compressed one, 10 of 12 layers compressed to d_ff′ = d, counted in
units of 2²⁰: 84,934,656 = 81.0·2²⁰ and 49,545,216 = 47.25·2²⁰).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_range, check_representable, provenance, scalar_or_array

__all__ = ["layer_flops", "model_flops", "model_floats", "lora_round_floats", "transformer_weight_count"]


def _pos(name: str, v: ArrayLike, low: float = 1, integer: bool = True) -> np.ndarray:
    return check_range(name, v, low=low, integer=integer)


def _model_dims(S, d, d_ff, V) -> tuple[np.ndarray, ...]:
    """S, d, V as integers >= 1 and d_ff as one width per layer, (..., L)."""
    S, d, V, d_ff = _pos("S", S), _pos("d", d), _pos("V", V), _pos("d_ff", d_ff)
    return S, d, (d_ff[None] if d_ff.ndim == 0 else d_ff), V


@provenance("published", "FedPFT (arXiv 2404.11536), Section 3.6.1")
def layer_flops(S: ArrayLike, d: ArrayLike, d_ff: ArrayLike) -> ArrayLike:
    r"""Multiply-adds of one transformer layer's forward pass, §3.6.1: :math:`4Sd^2 + S^2d + 2Sd\,d_{ff} + Sd`.
    **published** (the attention scores and their product with the values are :math:`2S^2d`; the paper counts :math:`S^2d`).

    Parameters
    ----------
    S, d, d_ff : array_like of integers >= 1, broadcast together

    Returns
    -------
    float or ndarray, the broadcast shape
    """
    S, d, d_ff = _pos("S", S), _pos("d", d), _pos("d_ff", d_ff)
    return scalar_or_array(check_representable("4Sd^2 + S^2 d + 2 S d d_ff + S d",
                                               lambda S, d, d_ff: 4 * S * d**2 + S**2 * d + 2 * S * d * d_ff + S * d,
                                               S=S, d=d, d_ff=d_ff))


@provenance("published", "FedPFT (arXiv 2404.11536), Section 3.6.1")
def model_flops(S: ArrayLike, d: ArrayLike, d_ff: ArrayLike, V: ArrayLike, c_f: float = 1.0, c_b: float = 2.0) -> ArrayLike:
    r"""Multiply-adds of a training step on one sequence, §3.6.1: :math:`d(V+S) + (c_f+c_b)\sum_\ell \mathrm{layer}(d_{ff,\ell})`.

    ``d_ff`` holds one width per layer along its last axis (the proxy: d for compressed layers, 4d for kept
    ones), so L is its length. **published**.

    Parameters
    ----------
    S, d : array_like of integers >= 1
    d_ff : array_like (..., L) of integers >= 1
    V : array_like of integers >= 1, the vocabulary
    c_f, c_b : float >= 0, forward and backward cost factors (a backward costs about two forwards)

    Returns
    -------
    float or ndarray
    """
    S, d, d_ff, V = _model_dims(S, d, d_ff, V)
    c_f = check_range("c_f", c_f, low=0, scalar=True)
    c_b = check_range("c_b", c_b, low=0, scalar=True)
    layers = layer_flops(np.asarray(S)[..., None], np.asarray(d)[..., None], d_ff)
    return scalar_or_array(check_representable("d(V+S) + (c_f + c_b) sum layer_flops",
                                               lambda d, V, S, layers, c_f, c_b: d * (V + S) + (c_f + c_b) * np.sum(layers, -1),
                                               elementwise=False, d=d, V=V, S=S, layers=layers, c_f=c_f, c_b=c_b))


@provenance("published", "FedPFT (arXiv 2404.11536), Section 3.6.2")
def model_floats(S: ArrayLike, d: ArrayLike, d_ff: ArrayLike, V: ArrayLike) -> ArrayLike:
    r"""Floats of the whole model sent per round without PEFT, §3.6.2: :math:`d(V+S) + \sum_\ell(4d^2 + 2d\,d_{ff,\ell}) + 2Ld`
    (12Ld² + 2Ld with d_ff = 4d, 6Ld² + 2Ld with d_ff = d). **published**.

    Parameters
    ----------
    S, d, V : array_like of integers >= 1
    d_ff : array_like (..., L) of integers >= 1, one width per layer

    Returns
    -------
    float or ndarray
    """
    S, d, d_ff, V = _model_dims(S, d, d_ff, V)
    return scalar_or_array(check_representable(
        "d(V+S) + sum(4d^2 + 2 d d_ff) + 2Ld",
        lambda d, V, S, d_ff: d * (V + S) + np.sum(4 * np.asarray(d)[..., None] ** 2 + 2 * np.asarray(d)[..., None] * d_ff, -1)
        + 2 * d_ff.shape[-1] * d, elementwise=False, d=d, V=V, S=S, d_ff=d_ff))


@provenance("published", "FedPFT (arXiv 2404.11536), Section 3.6.2")
def lora_round_floats(L: ArrayLike, r: ArrayLike, d: ArrayLike, t: ArrayLike, q: ArrayLike) -> ArrayLike:
    r"""Floats per round of FedPFT with attention-only LoRA, §3.6.2: :math:`8Lrd + \frac2t qLd^2`
    (two factors of r·d for each of the four attention matrices; every t rounds a fraction q of the
    compressed FFNs, 2d² per layer, re-aligned). **published**.

    Parameters
    ----------
    L, r, d : array_like of integers >= 1; t : array_like >= 1 (rounds between alignments); q : array_like in [0, 1]

    Returns
    -------
    float or ndarray
    """
    L, r, d = _pos("L", L), _pos("r", r), _pos("d", d)
    t = check_range("t", t, low=1)
    q = check_range("q", q, low=0, high=1)
    return scalar_or_array(check_representable("8Lrd + (2/t) q L d^2",
                                               lambda L, r, d, t, q: 8 * L * r * d + 2 / t * q * L * d**2,
                                               L=L, r=r, d=d, t=t, q=q))


@provenance("derived", "derived here: FedPFT (arXiv 2404.11536) Table 1's parameter counts")
def transformer_weight_count(L: ArrayLike, d: ArrayLike, compressed: ArrayLike, d_ff: ArrayLike,
                             d_ff_compressed: ArrayLike) -> ArrayLike:
    r"""Weights of the encoder layers' matrices (no biases, norms or embeddings):
    :math:`(L - c)(4d^2 + 2d\,d_{ff}) + c(4d^2 + 2d\,d_{ff}')` for c compressed layers. With L = 12, d = 768,
    d_ff = 3072: 84,934,656 (= 81.0·2²⁰, Table 1's "81M") and, c = 10 at d_ff′ = 768, 49,545,216
    (= 47.25·2²⁰, "47M"). **derived**.

    Parameters
    ----------
    L, d, d_ff, d_ff_compressed : array_like of integers >= 1; compressed : array_like of integers in [0, L]

    Returns
    -------
    float or ndarray
    """
    L, d = _pos("L", L), _pos("d", d)
    d_ff, d_ffc = _pos("d_ff", d_ff), _pos("d_ff_compressed", d_ff_compressed)
    c = check_range("compressed", compressed, low=0, integer=True)
    if np.any(c > L):
        raise ValueError(f"compressed must lie in [0, L], got compressed={compressed!r} for L={L!r}")

    def count(L, d, compressed, d_ff, d_ff_compressed):
        return (L - compressed) * (4 * d**2 + 2 * d * d_ff) + compressed * (4 * d**2 + 2 * d * d_ff_compressed)

    return scalar_or_array(check_representable("(L - c)(4d^2 + 2 d d_ff) + c(4d^2 + 2 d d_ff')", count,
                                               L=L, d=d, compressed=c, d_ff=d_ff, d_ff_compressed=d_ffc))
