"""The eval-mode TabularNet / TabularEnsemble as a few numpy operations, for the scoring service's small batches.

A request scores 1–256 rows; at that size the cost of the traced net is its ~35 operator calls (Linear, BatchNorm,
SiLU, the residual adds, per member), not their arithmetic: ~110 µs for one row. In eval mode a BatchNorm is an
affine map, so it folds into the Linear before it, and Dropout is the identity; the members of an ensemble are
stacked into one batched matrix product per layer. What is left is one matmul, one SiLU and one add per layer,
for all members at once (~15 µs for one row).

The arithmetic is float32 as in torch, but the folded weights and a different BLAS round differently: scores
agree with the torch net to ~1e-7 (``tests/ml_core/test_fused_forward.py`` holds them within 1e-6), not to the
bit. A net of any other shape (another activation, a layer this module does not know) returns None and is
served by the traced net as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from torch import nn

FusedForward = Callable[[np.ndarray], np.ndarray]
_NET_PARTS = (("inp", nn.Sequential), ("blocks", nn.ModuleList), ("out", nn.Linear))


@dataclass(frozen=True)
class _Layer:
    weight: np.ndarray  # (members, in, out): x @ weight
    bias: np.ndarray  # (members, 1, out)


def fuse_net(net: nn.Module) -> FusedForward | None:
    """A numpy function from features (rows, n_in) float32 to logits (rows,), equal to ``net.eval()(x)`` up to
    float32 rounding; None when ``net`` is not a TabularNet or TabularEnsemble of the known layout."""
    # told apart by their parts (``ml_core.model`` imports this module): an ensemble has ``members``, a net
    # ``inp``, ``blocks`` and ``out``; each layer's type is checked below
    parts = getattr(net, "members", None)
    members: list[nn.Module] = list(parts) if isinstance(parts, nn.ModuleList) else [net]
    if not all(all(isinstance(getattr(m, part, None), kind) for part, kind in _NET_PARTS) for m in members):
        return None
    per_member: list[list[_Layer]] = []
    for member in members:
        layers = _member_layers(member)
        if layers is None:
            return None
        per_member.append(layers)
    stacked = [_Layer(np.stack([layers[i].weight[0] for layers in per_member]),
                      np.stack([layers[i].bias[0] for layers in per_member]))
               for i in range(len(per_member[0]))]
    return _Forward(stacked)


class _Forward:
    """inp → SiLU, then each block h + SiLU(h @ W + b), then the output layer; the members' logits averaged."""

    def __init__(self, layers: list[_Layer]):
        self.first, self.blocks, self.last = layers[0], layers[1:-1], layers[-1]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        # in place where the result is a fresh array of this call's (the same operations, so the same bits as
        # ``h = silu(x @ W + b)``): a layer's arrays of 256 rows are ~400 kB each, and each one allocated is paid
        # again in page faults
        h = _silu_(_affine(x[None, :, :], self.first))
        for block in self.blocks:
            h += _silu_(_affine(h, block))
        logits = _affine(h, self.last)[:, :, 0]  # (members, rows)
        return logits.mean(axis=0, dtype=np.float32) if len(logits) > 1 else logits[0]


def _affine(x: np.ndarray, layer: _Layer) -> np.ndarray:
    z = np.matmul(x, layer.weight)
    z += layer.bias
    return z


def _silu_(z: np.ndarray) -> np.ndarray:
    """SiLU, ``z / (1 + exp(-z))`` in float32, written into ``z``."""
    e = np.negative(z)
    np.exp(e, out=e)
    e += np.float32(1.0)
    return np.divide(z, e, out=z)


def _member_layers(net: nn.Module) -> list[_Layer] | None:
    """One TabularNet's layers with each BatchNorm folded into its Linear; None for an unexpected layout."""
    inp, blocks = net.inp, net.blocks
    assert isinstance(inp, nn.Sequential) and isinstance(blocks, nn.ModuleList)  # checked by fuse_net
    first = _linear_bn_silu(list(inp))
    if first is None:
        return None
    layers = [first]
    for block in blocks:
        if not isinstance(block, nn.Sequential):
            return None
        mods = [m for m in block if not isinstance(m, nn.Dropout)]  # the identity in eval mode
        layer = _linear_bn_silu(mods)
        if layer is None:
            return None
        layers.append(layer)
    out = net.out
    if not isinstance(out, nn.Linear) or out.out_features != 1:
        return None
    layers.append(_Layer(_f32(out.weight.detach().numpy().T)[None], _f32(_bias(out, 1))[None, None]))
    return layers


def _linear_bn_silu(mods: list[nn.Module]) -> _Layer | None:
    if len(mods) != 3 or not (isinstance(mods[0], nn.Linear) and isinstance(mods[1], nn.BatchNorm1d)
                              and isinstance(mods[2], nn.SiLU)):
        return None
    linear, bn = mods[0], mods[1]
    if bn.running_mean is None or bn.running_var is None:
        return None
    # float64 while folding, so the only float32 rounding left is the product's own
    scale = bn.running_var.detach().double().add(bn.eps).rsqrt()
    if bn.affine:
        scale = scale * bn.weight.detach().double()
    shift = -bn.running_mean.detach().double() * scale
    if bn.affine:
        shift = shift + bn.bias.detach().double()
    w = linear.weight.detach().double().numpy().T * scale.numpy()[None, :]
    b = _bias(linear, linear.out_features).astype(np.float64) * scale.numpy() + shift.numpy()
    return _Layer(_f32(w)[None], _f32(b)[None, None])


def _bias(linear: nn.Linear, n: int) -> np.ndarray:
    return linear.bias.detach().double().numpy() if linear.bias is not None else np.zeros(n)


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)
