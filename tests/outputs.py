"""Comparing the outputs of two model instances that hold the same weights.

Weights round-trip bit for bit (compare state_dict tensors with torch.equal), but two instances need
not run the same kernels (memory format, thread count, a fused or unfused path), so their outputs agree
only within float tolerance, and a prediction may flip only where the top two logits are that close.
"""

from __future__ import annotations

import torch


def assert_same_outputs(a: torch.Tensor, b: torch.Tensor, *, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Logits ``a`` and ``b`` (N, C) agree within tolerance, and so do their predictions wherever the
    margin between the top two logits is wider than that tolerance."""
    torch.testing.assert_close(a, b, atol=atol, rtol=rtol)
    if a.ndim == 2 and a.shape[1] > 1:
        top = a.topk(2, dim=1).values
        clear = (top[:, 0] - top[:, 1]) > 2 * (atol + rtol * top[:, 0].abs())
        assert torch.equal(a.argmax(1)[clear], b.argmax(1)[clear])


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    """Every state_dict tensor of ``a`` and ``b`` is bit-identical (what a checkpoint round trip keeps)."""
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
