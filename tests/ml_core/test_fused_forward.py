"""The folded numpy forward pass the scoring service uses agrees with the torch net it was folded from."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ml_core.fused_forward import fuse_net
from ml_core.model import build_net


def trained_net(members: int, n_in: int = 12) -> nn.Module:
    """A net whose BatchNorm statistics and affine parameters are far from their initial 0/1, as after training."""
    torch.manual_seed(members)
    net = build_net(n_in, members=members, hidden=32, depth=2, dropout=0.3)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.3)
        net.train()
        for _ in range(5):
            net(torch.randn(128, n_in) * 3 + 1)
    return net.eval()


@pytest.mark.parametrize("members", [1, 3])
@pytest.mark.parametrize("rows", [1, 7, 256])
def test_the_fused_net_gives_the_torch_nets_logits(members: int, rows: int) -> None:
    net = trained_net(members)
    x = np.random.default_rng(rows).normal(1, 3, size=(rows, 12)).astype(np.float32)
    with torch.inference_mode():
        expected = net(torch.from_numpy(x)).numpy()
    fused = fuse_net(net)
    assert fused is not None
    got = fused(x)
    assert got.shape == (rows,) and got.dtype == np.float32
    probe = torch.from_numpy(np.random.default_rng(0).normal(1, 3, size=(64, 12)).astype(np.float32))
    with torch.inference_mode():
        assert float(net(probe).std()) > 0.1  # a net whose logits vary: agreement is not two constant outputs
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_a_net_of_another_layout_is_not_fused() -> None:
    net = trained_net(1)
    net.blocks[0][2] = nn.ReLU()  # not the SiLU this module folds
    assert fuse_net(net) is None
    assert fuse_net(nn.Linear(3, 1)) is None


def out_of_place(fused, x: np.ndarray) -> np.ndarray:
    """The forward as first written, each step a new array (``silu(z) = z / (1 + exp(-z))``): the oracle for the
    in-place version, which must give the same bits."""
    def silu(z: np.ndarray) -> np.ndarray:
        return z / (np.float32(1.0) + np.exp(-z))

    h = silu(np.matmul(x[None, :, :], fused.first.weight) + fused.first.bias)
    for block in fused.blocks:
        h = h + silu(np.matmul(h, block.weight) + block.bias)
    logits = (np.matmul(h, fused.last.weight) + fused.last.bias)[:, :, 0]
    return logits.mean(axis=0, dtype=np.float32) if len(logits) > 1 else logits[0]


@pytest.mark.parametrize("members", [1, 3])
@pytest.mark.parametrize("rows", [1, 16, 256])
def test_the_in_place_forward_gives_the_same_bits_as_the_out_of_place_one(members: int, rows: int) -> None:
    fused = fuse_net(trained_net(members))
    x = np.random.default_rng(rows).normal(1, 3, size=(rows, 12)).astype(np.float32)
    expected = out_of_place(fused, x)
    got = fused(x)
    assert got.tobytes() == expected.tobytes()
    assert fused(x).tobytes() == got.tobytes()  # and the input is left as it was: a second call agrees
