"""GET /v1/model (what is served, and what training decided) and POST /v1/model/reload."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from lcad._meta import __version__
from lcad.models.errors import LcadError
from lcad.registry import TrackingError
from lcad.service.deps import ApiKey, MetricsDep, ReadyDetector, SettingsDep, StateDep
from lcad.service.errors import ApiError
from lcad.service.responses import ERROR_RESPONSES

router = APIRouter(tags=["model"], responses=ERROR_RESPONSES)


@router.get("/v1/model")
async def model_info(det: ReadyDetector, state: StateDep, _key: ApiKey) -> dict[str, Any]:
    """What is being served: name, version, source, config, window, bands, threshold, and
    what the point score is and why (chosen in training), and what else /v1/score's
    `look_for` can ask of it."""
    import keras

    from lcad.models.devices import devices

    cal = det.calibration
    return {
        **state.ref(), "source": state.source, "lcad_version": __version__,
        "keras_backend": keras.backend.backend(), "devices": devices(),
        "mode": det.config.preprocess.mode, "window": det.window, "bands": det.bands,
        "latent_dim": det.latent_dim, "embedding_dim": det.embedding_dim,
        "representation": det.representation,
        "cadence": det.preprocessor.cadence,
        "threshold": None if cal is None else cal.point_threshold,
        "point_score": det.point_method,
        "point_score_reason": det.info.point_score_reason,
        # what /v1/score's look_for can ask of it, its own first
        "look_for": det.look_for,
        "novelty_views": det.novelty_views,
        "autoencoder": det.info.autoencoder or None,
        "target_false_alarm_rate": None if cal is None else cal.target_far,
        "config": det.config.model_dump(mode="json"), "training_metrics": det.metrics,
        "load_seconds": state.load_seconds,
    }


@router.post("/v1/model/reload")
async def reload(state: StateDep, settings: SettingsDep, metrics: MetricsDep, _key: ApiKey,
                 uri: Annotated[str | None, Query(
                     description="new model URI (default: the configured one)")] = None
                 ) -> dict[str, Any]:
    """Load the model again (or another one); the old one serves until the new is warm."""
    target = uri or settings.model_uri or state.source
    if not target or target == "in-process":
        raise ApiError(422, "uri: no model URI configured to reload")
    try:
        await state.load(target, settings.model_name, settings.warmup, settings.max_batch_rows,
                         settings.look_for)
    except TrackingError as exc:  # the registry is down: try again later
        raise ApiError(503, f"reload failed: {exc}", code="reload_failed",
                       headers={"Retry-After": "30"}) from None
    except LcadError as exc:  # no model there, or not a usable bundle: the caller's URI
        raise ApiError(422, f"uri: cannot load model {target!r}: {exc}",
                       code="model_not_loadable", details={"uri": target}) from None
    except Exception as exc:
        raise ApiError(503, f"reload failed: {exc}", code="reload_failed") from None
    finally:
        metrics.ready.set(1 if state.status == "ready" else 0)
    return {"status": state.status, **state.ref(), "source": state.source}
