"""Independent NumPy transcriptions of the paper's equations, used only by the tests."""
import numpy as np


def masked_softmax(logits, keep):
    """Eq. 3 restricted to kept segments; logits [M, K], keep [K] bool."""
    out = np.zeros_like(logits, dtype=np.float64)
    if keep.any():
        z = logits[:, keep].astype(np.float64)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        out[:, keep] = z / z.sum(axis=1, keepdims=True)
    return out


def stream_terms(h, kernel, bias, alpha, keep, beta=None):
    """Eqs. 3-4 for one video and stream (kernel [D, M], bias [M, K]): attention [M, K], scale [M], v [M, D]."""
    num_modules = kernel.shape[1]
    a = masked_softmax((h @ kernel).T + bias, keep)
    pooled = a @ h.astype(np.float64)
    shifted = alpha[:, None] * pooled + (0.0 if beta is None else beta[:, None])
    norm = np.sqrt(np.maximum((shifted**2).sum(axis=1), 1e-24))
    scale = alpha / (np.sqrt(num_modules) * norm)
    v = shifted / (np.sqrt(num_modules) * norm[:, None])
    return a, scale, v


def csc_pre_relu(h, attention, scale, z):
    """Eq. 7 summands for one stream: h [K, D], attention [M, K], scale [M], z [M, D, C] -> [C, K]."""
    weights = attention * scale[:, None]  # [M, K]
    proj = np.einsum("kd,mdc->mck", h.astype(np.float64), z.astype(np.float64))
    return np.einsum("mk,mck->ck", weights, proj)
