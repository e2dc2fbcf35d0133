"""MLflow model registry: aliases champion/challenger, the ready_for_deploy tag, lineage."""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ml_core.adopted import MLMODEL_FILE, SETTINGS_FILE, AdoptedModel, RegistryModel, is_adopted
from ml_core.paths import HomeLayout
from ml_core.release_fault import BUNDLE_FILE

CHAMPION, CHALLENGER = "champion", "challenger"
READY_TAG = "ready_for_deploy"
PROPOSAL_TAG = "opsagent.proposal"  # the approved proposal a version was made for: a resumed remediation finds it
EXPERIMENT = "opsagent"


class RegistryError(LookupError):
    """A model or version that is not in the registry; the message says what exists."""


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: str
    run_id: str | None
    aliases: tuple[str, ...]
    tags: dict[str, str]
    created_ms: int

    @property
    def ready_for_deploy(self) -> bool:
        return self.tags.get(READY_TAG) == "true"

    @property
    def test_metrics(self) -> dict[str, float]:
        """The test-split metrics evaluation stored as ``test_*`` tags: the version's reference."""
        out: dict[str, float] = {}
        for key, value in self.tags.items():
            if key.startswith("test_"):
                try:
                    out[key.removeprefix("test_")] = float(value)
                except ValueError:
                    continue
        return out


def is_tracking_server(tracking_uri: str) -> bool:
    """An MLflow tracking server (``mlflow server``) rather than a database or folder MLflow opens itself."""
    return urlsplit(tracking_uri).scheme in ("http", "https", "databricks")


def artifact_location(layout: HomeLayout, tracking_uri: str, artifact_root: str | None = None) -> str | None:
    """Where a new experiment of ``tracking_uri`` keeps its artifacts (models, reports).

    ``artifact_root`` when given (a path, or a URI such as ``s3://...`` or ``mlflow-artifacts:/...``). Else a
    tracking server chooses (None: its ``--default-artifact-root``, ``mlflow-artifacts:/`` with
    ``--serve-artifacts``), and a store MLflow opens directly (SQLite, PostgreSQL) keeps them in the home,
    because MLflow's own default there is ``./mlruns`` under whatever directory the process started in."""
    if artifact_root:
        return Path(artifact_root).expanduser().resolve().as_uri() if _is_path(artifact_root) else artifact_root
    return None if is_tracking_server(tracking_uri) else layout.mlflow_artifacts.as_uri()


def _is_path(location: str) -> bool:
    scheme = urlsplit(location).scheme
    return not scheme or len(scheme) == 1  # no scheme, or a Windows drive letter


class Registry:
    """A thin typed layer over MlflowClient bound to one tracking URI.

    ``artifact_root`` is where the experiment this registry creates keeps its artifacts (see
    ``artifact_location``); an experiment that exists already keeps the location it was created with."""

    def __init__(self, layout: HomeLayout, tracking_uri: str | None = None, artifact_root: str | None = None):
        self.layout = layout.ensure()
        self.tracking_uri = tracking_uri or layout.tracking_uri
        self.artifact_root = artifact_location(layout, self.tracking_uri, artifact_root)
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        self.client = MlflowClient(self.tracking_uri, self.tracking_uri)
        self.cache_dir = layout.home / "model-cache"

    def experiment_id(self) -> str:
        exp = self.client.get_experiment_by_name(EXPERIMENT)
        if exp is not None:
            return exp.experiment_id
        return self.client.create_experiment(EXPERIMENT, artifact_location=self.artifact_root)

    def register(self, name: str, model_uri: str, tags: dict[str, str]) -> VersionInfo:
        # MLflow prints "Successfully registered model"/"Created version" straight to stderr; the callers
        # report the version themselves, so keep those lines out of the CLI's output (errors still raise).
        with contextlib.redirect_stderr(io.StringIO()):
            mv = mlflow.register_model(model_uri, name, tags=tags)
        return self.version(name, mv.version)

    def versions(self, name: str) -> list[VersionInfo]:
        try:
            found = self.client.search_model_versions(f"name='{name}'")
        except MlflowException as exc:
            raise RegistryError(f"cannot list versions of '{name}': {exc}") from exc
        # search results carry no aliases in MLflow 3; the registered model has the alias map.
        by_version: dict[str, list[str]] = {}
        if found:
            for alias, version in (self.client.get_registered_model(name).aliases or {}).items():
                by_version.setdefault(str(version), []).append(alias)
        infos = [self._info(name, mv) for mv in found]
        infos = [VersionInfo(i.name, i.version, i.run_id, tuple(sorted(by_version.get(i.version, []))), i.tags,
                             i.created_ms) for i in infos]
        return sorted(infos, key=lambda v: int(v.version))

    def models(self) -> list[str]:
        return sorted(m.name for m in self.client.search_registered_models())

    def versions_for_proposal(self, name: str, proposal_id: str) -> list[VersionInfo]:
        """The versions registered for one approved proposal (tag ``opsagent.proposal``), oldest first."""
        return [v for v in self._safe_versions(name) if v.tags.get(PROPOSAL_TAG) == proposal_id]

    def version(self, name: str, version: str | int) -> VersionInfo:
        try:
            mv = self.client.get_model_version(name, str(version))
        except MlflowException as exc:
            known = ", ".join(v.version for v in self._safe_versions(name)) or "none"
            raise RegistryError(f"model '{name}' has no version {version} (known versions: {known})") from exc
        return self._info(name, mv)

    def alias(self, name: str, alias: str) -> VersionInfo | None:
        try:
            mv = self.client.get_model_version_by_alias(name, alias)
        except MlflowException:
            return None
        return self._info(name, mv)

    def set_alias(self, name: str, alias: str, version: str | int) -> None:
        self.version(name, version)  # raises a clear error for an unknown version
        self.client.set_registered_model_alias(name, alias, str(version))

    def delete_alias(self, name: str, alias: str) -> None:
        with contextlib.suppress(MlflowException):
            self.client.delete_registered_model_alias(name, alias)

    def set_tag(self, name: str, version: str | int, key: str, value: str) -> None:
        self.client.set_model_version_tag(name, str(version), key, value)

    def mark_ready(self, name: str, version: str | int, ready: bool = True) -> None:
        self.set_tag(name, version, READY_TAG, "true" if ready else "false")

    def lineage(self, name: str, version: str | int) -> dict[str, str | None]:
        info = self.version(name, version)
        return {
            "model": name, "version": info.version, "training_run_id": info.run_id,
            "data_fingerprint": info.tags.get("data_fingerprint"),
            "parent_version": info.tags.get("parent_version"),
        }

    def bundle_dir(self, name: str, version: str | int) -> Path:
        """Download (once) and return the directory holding the version's model bundle.

        An opsagent-trained version's bundle is ``bundle.pt``; an adopted version's is the copied MLflow
        model folder with its settings file. Either may hold ``reference.parquet``, its training rows."""
        target = self.cache_dir / name / str(version)
        if (target / BUNDLE_FILE).exists() or (target / SETTINGS_FILE).exists():
            return target
        tmp = Path(tempfile.mkdtemp(dir=self.layout.home))
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}",
                                                             dst_path=str(tmp), tracking_uri=self.tracking_uri,
                                                             registry_uri=self.tracking_uri))
            adopted = (local / SETTINGS_FILE).exists() and (local / MLMODEL_FILE).exists()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(target, ignore_errors=True)
            shutil.move(str(local if adopted else local / "artifacts" / "bundle"), target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return target

    def load(self, name: str, version: str | int) -> RegistryModel:
        """The version's model: a TabularModel, or an AdoptedModel for a version tagged ``opsagent.kind=adopted``
        (both score with ``predict_proba`` and carry ``threshold``, ``fault`` and ``meta``)."""
        info = self.version(name, version)
        directory = self.bundle_dir(name, version)
        if is_adopted(info.tags):
            return AdoptedModel.load(directory, info.tags)
        from ml_core.model import TabularModel  # torch, only when a model is actually loaded

        return TabularModel.load(directory)

    def _safe_versions(self, name: str) -> list[VersionInfo]:
        try:
            return self.versions(name)
        except RegistryError:
            return []

    @staticmethod
    def _info(name: str, mv) -> VersionInfo:
        return VersionInfo(name, str(mv.version), mv.run_id, tuple(getattr(mv, "aliases", []) or []),
                           dict(mv.tags or {}), int(mv.creation_timestamp or 0))
