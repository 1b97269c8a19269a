import numpy as np
import pytest
from fastapi.testclient import TestClient

from lcad.models.synthetic import inject, synthetic_dataset
from lcad.service.app import create_app
from lcad.service.settings import Settings
from tests.conftest import SYNTH


def series_json(curve, errors=True):
    out = {"id": curve.object_id, "time": curve.time.tolist(), "flux": curve.flux.tolist()}
    if errors and curve.flux_err is not None:  # the default scores are chi2: errors matter
        out["flux_err"] = curve.flux_err.tolist()
    return out


@pytest.fixture(scope="session")
def service_curves():
    rng = np.random.default_rng(21)
    curves, _ = synthetic_dataset(4, seed=42, **SYNTH)
    flare = inject(curves[0], "flare", rng, amplitude=5)
    return curves, flare


def make_client(detector, **settings):
    app = create_app(Settings(warmup=False, **settings), detector=detector)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(tiny_detector):
    with make_client(tiny_detector, model_name="tiny") as c:
        yield c
