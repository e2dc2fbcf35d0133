"""A tabular binary classifier: preprocessing + a PyTorch MLP + calibration + decision threshold, one bundle."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ml_core.features import Preprocessor
from ml_core.features_records import RecordsPlan, records_plan
from ml_core.fused_forward import FusedForward, fuse_net
from ml_core.release_fault import BUNDLE_FILE, Fault, apply_fault


class TabularNet(nn.Module):
    """A small residual MLP for a tabular classifier."""

    def __init__(self, n_in: int, hidden: int = 128, depth: int = 2, dropout: float = 0.1):
        super().__init__()
        self.inp = nn.Sequential(nn.Linear(n_in, hidden), nn.BatchNorm1d(hidden), nn.SiLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.SiLU(), nn.Dropout(dropout))
            for _ in range(depth)
        )
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h).squeeze(-1)


class TabularEnsemble(nn.Module):
    """Several independently initialised TabularNets trained side by side; the logit is their mean.
    On 5,000 rows one net's validation score swings by ±0.01 AUC from seed to seed; the mean does not."""

    def __init__(self, n_in: int, members: int = 3, **net_kwargs: Any):
        super().__init__()
        self.members = nn.ModuleList(TabularNet(n_in, **net_kwargs) for _ in range(members))

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        """One row of logits per member: shape (members, batch)."""
        return torch.stack([m(x) for m in self.members])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.member_logits(x).mean(dim=0)


def build_net(n_in: int, members: int = 1, **arch: Any) -> nn.Module:
    """The network an ``arch`` dict describes; ``members=1`` (and bundles saved before ensembles
    existed) gives a plain TabularNet."""
    return TabularNet(n_in, **arch) if members <= 1 else TabularEnsemble(n_in, members, **arch)


def _UNOPTIMIZED() -> Any:  # noqa: N802 -- reads as the context it is
    return torch.jit.optimized_execution(False)


@dataclass
class TabularModel:
    preprocessor: Preprocessor
    net: nn.Module  # TabularNet or TabularEnsemble, as built by build_net(**arch)
    arch: dict[str, Any]
    threshold: float = 0.5
    calibration: tuple[float, float] = (1.0, 0.0)  # Platt scaling on the logit: sigmoid(a*z + b)
    meta: dict[str, Any] = field(default_factory=dict)
    fault: Fault | None = None

    def logits(self, df: pd.DataFrame) -> np.ndarray:
        x = torch.from_numpy(self.preprocessor.transform(df))
        self.net.eval()
        with torch.inference_mode():
            return self.net(x).float().numpy()

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Calibrated positive-class probability per row."""
        if self.fault is not None:
            self._apply_fault()
        a, b = self.calibration
        z = a * self.logits(df) + b
        return 1.0 / (1.0 + np.exp(-z))

    def predict_proba_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """``predict_proba`` of the records as a DataFrame, without building one (the scoring service's path:
        ``features_records`` computes the same features in numpy at a fraction of the cost)."""
        plan = self._records_plan()
        if plan is None:
            return self.predict_proba(pd.DataFrame.from_records(list(records)))
        x = plan.transform(records)
        if self.fault is not None:
            self._apply_fault()
        fused = self._fused_forward()
        if fused is not None:
            z = self.calibration[0] * fused(x) + self.calibration[1]
        else:
            net = self._inference_net()
            with torch.inference_mode(), _UNOPTIMIZED():
                z = self.calibration[0] * net(torch.from_numpy(x)).float().numpy() + self.calibration[1]
        return 1.0 / (1.0 + np.exp(-z))

    @property
    def scores_in_bounded_time(self) -> bool:
        """Scoring is computation alone, of a cost that grows with the rows (a small MLP: ~0.2 ms for 16 rows), so
        the scoring service may run it on its event loop. Not with an injected fault: a slow release sleeps."""
        return self.fault is None

    def _records_plan(self) -> RecordsPlan | None:
        """The records transform of this model's preprocessor, worked out on first use (a loaded model's
        preprocessor does not change)."""
        if "_plan" not in self.__dict__:
            self.__dict__["_plan"] = records_plan(self.preprocessor)
        return self.__dict__["_plan"]

    def _fused_forward(self) -> FusedForward | None:
        """The eval-mode net folded into a few numpy operations (``ml_core.fused_forward``: 5x faster than the
        traced net for one row, 2.5x for 16, equal at 256; scores within float32 rounding of torch's), worked out
        on first use; None for a net of another layout, served by the traced net."""
        if "_fused" not in self.__dict__:
            self.net.eval()
            self.__dict__["_fused"] = fuse_net(self.net)
        return self.__dict__["_fused"]

    def _inference_net(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The net traced to TorchScript once, for serving a net ``_fused_forward`` cannot fold: the same kernels
        without Python's dispatch through some 25 modules (about 2.5x faster at a scoring request's size; the
        scores are equal to the bit). It runs unoptimized (``_UNOPTIMIZED``): the profiling
        executor re-specialises the graph for each new batch size, a first call at a new size costing ~14 ms
        against ~2 (hundreds under load, past the latency budget), for ~15 % of steady speed. A net that cannot be
        traced is used as it is."""
        traced = self.__dict__.get("_traced")
        if traced is None:
            self.net.eval()
            sample = torch.zeros(2, self.preprocessor.n_features)
            try:
                with torch.inference_mode(), _UNOPTIMIZED():
                    traced = torch.jit.trace(self.net, sample, check_trace=False)
                    traced(sample)
            except Exception:  # an architecture tracing does not handle: eager, as training uses it
                traced = self.net
            self.__dict__["_traced"] = traced
        return traced

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(df) >= self.threshold).astype(np.int64)

    def _apply_fault(self) -> None:
        assert self.fault is not None
        self._calls = apply_fault(self.fault, getattr(self, "_calls", 0))

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "preprocessor": self.preprocessor.to_dict(), "arch": self.arch, "threshold": self.threshold,
            "calibration": list(self.calibration), "meta": self.meta,
            "fault": None if self.fault is None else self.fault.__dict__,
        }
        path = directory / BUNDLE_FILE
        torch.save({"state_dict": self.net.state_dict(), "meta": json.dumps(meta)}, path)
        return path

    @classmethod
    def load(cls, directory: Path) -> TabularModel:
        path = directory / BUNDLE_FILE if directory.is_dir() else directory
        blob = torch.load(path, map_location="cpu", weights_only=True)
        meta = json.loads(blob["meta"])
        pre = Preprocessor.from_dict(meta["preprocessor"])
        net = build_net(pre.n_features, **meta["arch"])
        net.load_state_dict(blob["state_dict"])
        net.eval()
        fault = Fault(**meta["fault"]) if meta.get("fault") else None
        return cls(pre, net, meta["arch"], meta["threshold"], tuple(meta["calibration"]), meta["meta"], fault)
