"""Train the churn model: seeded, early-stopped, class-weighted, mixed precision on CUDA."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from sklearn.metrics import f1_score, roc_auc_score
from torch import nn

from ml_core.data.churn import Split
from ml_core.data.schema import CHURN_SCHEMA, TableSchema
from ml_core.features import Preprocessor
from ml_core.model import ChurnModel, ChurnNet

EpochCallback = Callable[[int, int, dict[str, float]], None]


class TrainConfig(BaseModel):
    """Hyper-parameters; every field is logged to MLflow as a param."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(default=60, ge=1, le=10_000)
    batch_size: int = Field(default=128, ge=8)
    lr: float = Field(default=2e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    hidden: int = Field(default=128, ge=4)
    depth: int = Field(default=2, ge=0, le=16)
    dropout: float = Field(default=0.1, ge=0, lt=1)
    patience: int = Field(default=12, ge=1, description="epochs without validation gain before stopping")
    pos_weight: float | None = Field(default=None, description="positive-class weight; None = neg/pos ratio")
    seed: int = 7
    device: str = Field(default="auto", description="auto | cpu | cuda")


@dataclass
class TrainResult:
    model: ChurnModel
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    device: str = "cpu"
    seconds: float = 0.0
    samples_per_second: float = 0.0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA GPU is available; use --device cpu or auto")
    return torch.device(name)


def _best_f1_threshold(y: np.ndarray, p: np.ndarray) -> float:
    grid = np.linspace(0.05, 0.95, 91)
    scores = [f1_score(y, p >= t, zero_division=0) for t in grid]
    return float(grid[int(np.argmax(scores))])


def _fit_platt(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e6, max_iter=1000).fit(z.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def train_model(split: Split, config: TrainConfig, schema: TableSchema = CHURN_SCHEMA,
                on_epoch: EpochCallback | None = None) -> TrainResult:
    """Fit the preprocessor and the network on ``split.train``; early-stop and calibrate on ``split.valid``."""
    seed_everything(config.seed)
    device = resolve_device(config.device)
    pre = Preprocessor.fit(split.train, schema)
    x_tr = torch.from_numpy(pre.transform(split.train, schema))
    y_tr = torch.from_numpy(schema.labels_to_int(split.train[schema.label]).to_numpy().astype(np.float32))
    x_va = torch.from_numpy(pre.transform(split.valid, schema)).to(device)
    y_va = schema.labels_to_int(split.valid[schema.label]).to_numpy()

    arch = {"hidden": config.hidden, "depth": config.depth, "dropout": config.dropout}
    net = ChurnNet(pre.n_features, **arch).to(device)
    pos = float(y_tr.sum())
    pos_weight = config.pos_weight if config.pos_weight is not None else (len(y_tr) - pos) / max(pos, 1.0)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, device=device))
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
    amp = device.type == "cuda"
    gen = torch.Generator().manual_seed(config.seed)
    x_tr_d, y_tr_d = x_tr.to(device), y_tr.to(device)

    history: list[dict[str, float]] = []
    best = (-1.0, 0, {k: v.detach().clone() for k, v in net.state_dict().items()})
    bad_epochs, n, start = 0, len(x_tr), time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        net.train()
        order = torch.randperm(n, generator=gen).to(device)
        total = 0.0
        for i in range(0, n, config.batch_size):
            idx = order[i:i + config.batch_size]
            if len(idx) < 2:  # BatchNorm needs two rows
                continue
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
                loss = loss_fn(net(x_tr_d[idx]).float(), y_tr_d[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        net.eval()
        with torch.inference_mode():
            z_va = net(x_va).float().cpu().numpy()
        val_auc = float(roc_auc_score(y_va, z_va))
        row = {"epoch": epoch, "train_loss": total / n, "val_auc": val_auc}
        history.append(row)
        if on_epoch:
            on_epoch(epoch, config.epochs, row)
        if val_auc > best[0] + 1e-4:
            best = (val_auc, epoch, {k: v.detach().clone() for k, v in net.state_dict().items()})
            bad_epochs = 0
        else:
            bad_epochs += 1
            if bad_epochs >= config.patience:
                break
    seconds = time.perf_counter() - start
    net.load_state_dict(best[2])
    net = net.to("cpu").eval()
    with torch.inference_mode():
        z_va = net(x_va.cpu()).float().numpy()
    calibration = _fit_platt(z_va, y_va)
    p_va = 1 / (1 + np.exp(-(calibration[0] * z_va + calibration[1])))
    threshold = _best_f1_threshold(y_va, p_va)
    model = ChurnModel(pre, net, arch, threshold, calibration, meta={"best_epoch": best[1]})
    return TrainResult(model, history, best[1], device.type, seconds, n * len(history) / max(seconds, 1e-9))
