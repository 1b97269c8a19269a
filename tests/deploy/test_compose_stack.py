"""deploy/compose.yaml brought up for real on a Docker engine: PostgreSQL, the MLflow server on
it, the one-shot trainer (`lcad demo`, registering models:/lcad@champion), lcad serving that
alias; scored, restarted with the model and runs still there, and taken down."""

from __future__ import annotations

import os
import subprocess
import uuid

import httpx
import numpy as np
import pytest

from tests.conftest import ROOT, free_port, kepler_slices, wait_http
from tests.deploy.conftest import POSTGRES_IMAGE

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COMPOSE = ROOT / ".venv-compose" / "bin" / "docker-compose"  # `make compose-tool`
# the demo's 25 epochs are the user's default; 3 keep CI short (the same command otherwise)
FAST_TRAINER = """services:
  trainer:
    command: ["lcad", "demo", "--register-as", "lcad", "--epochs", "3"]
"""


@pytest.fixture()
def stack(image, full_image, tmp_path):
    if not COMPOSE.exists():
        pytest.fail("docker-compose is missing: `make compose-tool` builds .venv-compose")
    override = tmp_path / "compose.ci.yaml"
    override.write_text(FAST_TRAINER)
    project = f"lcadtest{uuid.uuid4().hex[:8]}"
    lcad_port, mlflow_port = free_port(), free_port()
    env = {**os.environ, "LCAD_IMAGE": image, "LCAD_FULL_IMAGE": full_image,
           "POSTGRES_PASSWORD": uuid.uuid4().hex,
           "LCAD_PORT": str(lcad_port), "MLFLOW_PORT": str(mlflow_port),
           "LCAD_POLL_SECONDS": "0"}
    if POSTGRES_IMAGE:
        env["POSTGRES_IMAGE"] = POSTGRES_IMAGE

    def compose(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(COMPOSE), "-p", project, "-f", "deploy/compose.yaml",
                               "-f", str(override), *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, (args, proc.stdout[-3000:], proc.stderr[-3000:])
        return proc

    try:
        yield compose, f"http://127.0.0.1:{lcad_port}", f"http://127.0.0.1:{mlflow_port}"
    finally:
        logs = subprocess.run([str(COMPOSE), "-p", project, "-f", "deploy/compose.yaml",
                               "logs", "--tail", "40"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
        print(logs.stdout[-6000:])
        subprocess.run([str(COMPOSE), "-p", project, "-f", "deploy/compose.yaml", "down", "-v",
                        "--remove-orphans"], cwd=ROOT, env=env, capture_output=True,
                       timeout=300)


def registry_state(mlflow: str) -> tuple[str, int]:
    """(the version behind lcad@champion, the number of runs of the demo's experiment)."""
    alias = httpx.get(f"{mlflow}/api/2.0/mlflow/registered-models/alias",
                      params={"name": "lcad", "alias": "champion"}, timeout=30)
    assert alias.status_code == 200, alias.text
    exp = httpx.get(f"{mlflow}/api/2.0/mlflow/experiments/get-by-name",
                    params={"experiment_name": "lcad-demo"}, timeout=30).json()["experiment"]
    runs = httpx.post(f"{mlflow}/api/2.0/mlflow/runs/search",
                      json={"experiment_ids": [exp["experiment_id"]]}, timeout=30).json()
    return alias.json()["model_version"]["version"], len(runs.get("runs", []))


def score_one(url: str) -> dict:
    got = httpx.post(url + "/v1/score", json={"series": kepler_slices(1)}, timeout=120)
    assert got.status_code == 200, got.text
    (result,) = got.json()["results"]
    assert np.isfinite(result["score"])
    return result


def test_the_compose_stack_trains_registers_serves_and_keeps_its_state(stack):
    compose, lcad, mlflow = stack
    compose("up", "-d", "--no-build")
    wait_http(lcad + "/health/ready", timeout=900)  # postgres, mlflow, the trainer, lcad
    served = httpx.get(lcad + "/v1/model", timeout=30).json()
    assert served["source"] == "models:/lcad@champion" and served["name"] == "lcad"
    version, n_runs = registry_state(mlflow)
    assert served["version"] == version and n_runs >= 1
    first = score_one(lcad)

    # every long-running service restarted (the one-shot trainer is not run again): the
    # registered model and the runs are in PostgreSQL and the artifacts volume
    compose("restart", "postgres", "mlflow", "lcad")
    wait_http(mlflow + "/health", timeout=300)
    wait_http(lcad + "/health/ready", timeout=300)
    assert registry_state(mlflow) == (version, n_runs)
    assert httpx.get(lcad + "/v1/model", timeout=30).json()["version"] == version
    again = score_one(lcad)
    assert again["score"] == pytest.approx(first["score"], rel=1e-6)

    compose("down")
    ps = subprocess.run(["docker", "ps", "-q", "--filter", f"publish={lcad.rsplit(':', 1)[1]}"],
                        capture_output=True, text=True, timeout=60)
    assert ps.stdout.strip() == ""  # nothing left serving
