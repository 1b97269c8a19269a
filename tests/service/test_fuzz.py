"""Schemathesis against the service's own OpenAPI spec, with valid and invalid (negative)
requests: no 5xx, every error in the envelope.

Driven through Hypothesis strategies per operation (schemathesis' pytest plugin does not run
under pytest 9.2: it reads a removed private attribute).
"""

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from lcad.service.app import create_app
from lcad.service.settings import Settings

pytestmark = pytest.mark.slow

EXAMPLES = 50


@pytest.fixture(scope="module")
def operations(tiny_detector, tmp_path_factory):
    import mlflow

    # a healthy (local) registry: generated model URIs must get 4xx, not "registry down"
    store = f"sqlite:///{tmp_path_factory.mktemp('fuzz-registry') / 'mlruns.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", store)
        mlflow.set_tracking_uri(store)
        app = create_app(Settings(warmup=False, model_name="tiny"), detector=tiny_detector)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        yield [result.ok() for result in schema.get_all_operations()]
        mlflow.set_tracking_uri(None)  # the env var is restored by the context


def check(response, label):
    assert response.status_code < 500, (label, response.status_code, response.text[:500])
    if response.status_code >= 400:
        body = json.loads(response.content)
        assert set(body) == {"error"}, (label, body)
        assert {"code", "message", "details"} <= set(body["error"]), (label, body)
        assert body["error"]["message"], (label, body)


def fuzz(op, label, mode):
    count = 0

    @given(case=op.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        nonlocal count
        count += 1
        check(case.call(), label)

    try:
        run()
    except Unsatisfiable:  # negative mode: nothing to break in an operation without input
        assert mode is GenerationMode.NEGATIVE and count == 0, label
    return count


def test_every_operation_survives_generated_requests(operations):
    tried = {}
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for op in operations:
            label = f"{op.method.upper()} {op.path} ({mode.value})"
            tried[label] = fuzz(op, label, mode)
    print(f"\nschemathesis: {sum(tried.values())} cases over {len(tried)} operations: {tried}")
    assert len(tried) >= 20
    assert all(n >= 1 for k, n in tried.items() if "positive" in k), tried
    assert all(n >= 1 for k, n in tried.items() if k.startswith("POST")), tried
