"""The MLflow pyfunc wrapper, so any MLflow tool (e.g. ``mlflow models serve``) can load a version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from ml_core.model import TabularModel


class ChurnPyfunc(PythonModel):
    def load_context(self, context: Any) -> None:
        self.model = TabularModel.load(Path(context.artifacts["bundle"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        score = self.model.predict_proba(model_input)
        return pd.DataFrame({"score": score, "label": (score >= self.model.threshold).astype(int)})
