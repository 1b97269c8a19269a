"""Where models live: the tracking URI, and a Detector from a bundle path or an MLflow URI.

The one place outside `lcad.training` that touches MLflow: the service and the CLI load
`models:/name@alias` through it; the registry's version of an alias is read here too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lcad.models.errors import LcadError

if TYPE_CHECKING:  # Keras loads only when a model does
    from lcad.models.detector import Detector

DEFAULT_DB = "mlruns.db"


class TrackingError(LcadError):
    """The tracking server cannot be used; the message names the URI."""


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, or an embedded SQLite store in the working directory."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{Path.cwd() / DEFAULT_DB}"


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, before training, when an HTTP tracking server does not answer."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        # only http(s) URIs get here (checked above)
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as resp:  # nosec B310
            if resp.status >= 500:
                raise TrackingError(f"MLflow tracking server {uri} answered {resp.status}")
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(f"MLflow tracking server {uri} is unreachable ({reason}); "
                            "start it, fix MLFLOW_TRACKING_URI, or pass --no-tracking") from None


_USABLE: set[str] = set()  # stores this process has opened (the CLI checks before work)


def check_tracking(uri: str) -> None:
    """Fail fast, before any work, where runs cannot be logged to `uri`: an HTTP server that
    does not answer, or a store MLflow refuses (MLflow 3 refuses its file store, ./mlruns,
    unless MLFLOW_ALLOW_FILE_STORE is set). A store that opened once in this process is not
    opened again (the CLI checks before training and `tracking.connect` after it)."""
    if uri in _USABLE:
        return
    check_reachable(uri)
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        mlflow.MlflowClient(tracking_uri=uri)  # opens the store
    except MlflowException as exc:
        raise TrackingError(
            f"MLflow cannot use the tracking store {uri!r} (MLFLOW_TRACKING_URI): {exc.message} "
            "Unset MLFLOW_TRACKING_URI for lcad's default (sqlite:///mlruns.db in the working "
            "directory), point it at a tracking server or a database, or pass --no-tracking"
        ) from None
    _USABLE.add(uri)


def resolve_model(uri: str) -> Path:
    """A bundle directory for a local path, `models:/name@alias`, `models:/name/1` or `runs:/`."""
    if "://" not in uri and ":/" not in uri:
        return Path(uri)
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    check_reachable(tracking_uri())
    dest = Path(tempfile.mkdtemp(prefix="lcad-model-"))
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest)))
    except Exception as exc:
        raise LcadError(f"cannot fetch model {uri!r} from {tracking_uri()}: {exc}") from None
    found = sorted((c.parent for c in local.rglob("config.json")
                    if (c.parent / "model.keras").is_file()), key=lambda p: len(p.parts))
    if found:
        return found[0]
    raise LcadError(f"model {uri!r} holds no lcad bundle (looked under {local})")


def load_detector(uri: str) -> Detector:
    """A Detector from a bundle path or an MLflow URI; downloaded copies are removed after."""
    from lcad.models.bundle import bundle_root

    path = resolve_model(uri)
    bundle_root(path)  # a missing bundle is named before Keras loads (seconds, not 30)
    from lcad.models.detector import Detector

    try:
        return Detector.load(path)
    finally:
        root = next((p for p in path.parents if p.name.startswith("lcad-model-")), None)
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


def registry_meta(uri: str) -> dict[str, Any]:
    """Name, version and run of the model version a `models:/` URI points at now ({} when
    the registry cannot say)."""
    from mlflow.tracking import MlflowClient

    ref = uri[len("models:/"):]
    client = MlflowClient()
    try:
        if "@" in ref:
            name, alias = ref.split("@", 1)
            mv = client.get_model_version_by_alias(name, alias)
        else:
            name, version = ref.rsplit("/", 1)
            mv = client.get_model_version(name, version)
    except Exception:
        return {}
    return {"name": mv.name, "version": str(mv.version), "run_id": mv.run_id}
