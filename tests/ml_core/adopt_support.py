"""Models someone else trained: scikit-learn pipelines on the credit table, logged by plain MLflow code into a
tracking store of their own (SQLite, not opsagent's), built once per test session for the adoption tests."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ml_core.data.credit import load_credit

LABEL, POSITIVE, ID = "Status", "bad", "credit_id"
SOURCE_NAME = "credit-risk-team"  # the model's name in the other team's registry


@dataclass(frozen=True)
class OtherStore:
    root: Path
    tracking_uri: str
    data: pd.DataFrame  # the credit table: id, label and features
    csv: Path
    logistic: Pipeline
    boosted: Pipeline
    logistic_uri: str  # models:/SOURCE_NAME/1 in the other registry
    boosted_uri: str  # runs:/RUN_ID/model
    labels_uri: str  # the logistic pipeline served with predict(): class labels, not probabilities

    @property
    def features(self) -> pd.DataFrame:
        return self.data.drop(columns=[ID, LABEL])

    def records(self, n: int, start: int = 0) -> list[dict]:
        rows = self.data.drop(columns=[LABEL]).iloc[start:start + n]
        return rows.astype(object).where(rows.notna(), None).to_dict("records")


def _preprocess(features: pd.DataFrame, scale: bool) -> ColumnTransformer:
    categorical = [c for c in features.columns if features[c].dtype == object]
    numeric = [c for c in features.columns if c not in categorical]
    numbers = make_pipeline(SimpleImputer(strategy="median"), *([StandardScaler()] if scale else []))
    categories = make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                               OneHotEncoder(handle_unknown="ignore"))
    return ColumnTransformer([("num", numbers, numeric), ("cat", categories, categorical)])


_STORE: OtherStore | None = None


def other_store() -> OtherStore:
    global _STORE
    if _STORE is None:
        root = Path(tempfile.mkdtemp(prefix="opsagent-other-mlflow-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        _STORE = _build(root)
    return _STORE


def _build(root: Path) -> OtherStore:
    data = load_credit()
    csv = root / "loans.csv"
    data.to_csv(csv, index=False)
    x, y = data.drop(columns=[ID, LABEL]), (data[LABEL] == POSITIVE).astype(int)
    logistic = make_pipeline(_preprocess(x, scale=True), LogisticRegression(max_iter=1000)).fit(x, y)
    boosted = make_pipeline(_preprocess(x, scale=False),
                            HistGradientBoostingClassifier(max_iter=40, random_state=0)).fit(x, y)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment("credit-team", artifact_location=(root / "artifacts").as_uri())
    common = {"input_example": x.head(5), "pip_requirements": ["scikit-learn"]}  # no slow requirement inference
    with mlflow.start_run(experiment_id=experiment):
        mlflow.sklearn.log_model(logistic, name="model", pyfunc_predict_fn="predict_proba",
                                 skops_trusted_types=["numpy.dtype"], registered_model_name=SOURCE_NAME, **common)
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.sklearn.log_model(boosted, name="model", pyfunc_predict_fn="predict_proba",
                                 serialization_format="cloudpickle", **common)
        boosted_uri = f"runs:/{run.info.run_id}/model"
    with mlflow.start_run(experiment_id=experiment):
        labels = mlflow.sklearn.log_model(logistic, name="labels", skops_trusted_types=["numpy.dtype"], **common)
    return OtherStore(root, uri, data, csv, logistic, boosted, f"models:/{SOURCE_NAME}/1", boosted_uri,
                      labels.model_uri)


def original_scores(pipeline: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    return pipeline.predict_proba(frame.drop(columns=[ID, LABEL], errors="ignore"))[:, 1]
