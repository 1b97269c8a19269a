"""Static checks of the Dockerfile, the compose files and the Kubernetes manifests."""

import os
import re
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import BIN, ROOT

DEPLOY = ROOT / "deploy"
COMPOSE = ROOT / ".venv-compose" / "bin" / "docker-compose"


def run(*cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120,
                          **kw)


def test_hadolint_passes_with_nothing_ignored():
    text = (ROOT / "Dockerfile").read_text()
    assert "hadolint ignore" not in text and not (ROOT / ".hadolint.yaml").exists()
    proc = run(BIN / "hadolint", "--failure-threshold", "info", ROOT / "Dockerfile")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_essentials():
    text = (ROOT / "Dockerfile").read_text()
    for needle in ("ARG VARIANT=cpu", "USER 10001:10001", "HEALTHCHECK", "EXPOSE 8000",
                   "TF_FORCE_GPU_ALLOW_GROWTH=true", "LCAD_MODEL_URI=", " AS runtime",
                   "COPY --from=build /opt/lcad /opt/lcad"):
        assert needle in text, needle
    runtime = text.split(" AS runtime", 1)[1]
    assert "install.sh" not in runtime and "gcc" not in runtime  # no build step at runtime
    assert ".git" in (ROOT / ".dockerignore").read_text()


def test_variants_hold_what_each_image_is_for():
    req = {v: run("python3", DEPLOY / "requirements.py", v).stdout.split()
           for v in ("cpu", "full", "gpu")}
    names = {v: {re.split(r"[\[<>=!~ ]", r, maxsplit=1)[0] for r in rs} for v, rs in req.items()}
    # serving: one Keras backend (JAX), the MLflow client only, no training-only packages
    assert "jax" in names["cpu"] and "mlflow-skinny" in names["cpu"]
    assert not names["cpu"] & {"tensorflow", "tensorflow-cpu", "mlflow", "matplotlib",
                               "astropy", "pyarrow", "tqdm", "psycopg"}
    assert req["full"][0].startswith("tensorflow-cpu") and "mlflow" in names["full"]
    assert req["gpu"][0].startswith("tensorflow[and-cuda]") and "jax" not in names["gpu"]
    # full and gpu differ only in TensorFlow's wheel and JAX
    assert [r for r in req["full"][1:] if not r.startswith("jax")] == req["gpu"][1:]
    backends = {v: run("python3", DEPLOY / "requirements.py", "--backend", v).stdout.strip()
                for v in req}
    assert backends == {"cpu": "jax", "full": "tensorflow", "gpu": "tensorflow"}
    text = (ROOT / "Dockerfile").read_text()
    assert "LCAD_BACKEND=auto" in text and "KERAS_HOME=/opt/lcad/keras" in text


@pytest.mark.skipif(not COMPOSE.exists(), reason="make compose-tool builds .venv-compose")
@pytest.mark.parametrize("files", [["compose.yaml"], ["compose.yaml", "compose.gpu.yaml"]])
def test_compose_config_parses(files):
    args = [a for f in files for a in ("-f", DEPLOY / f)]
    env = {**os.environ, "POSTGRES_PASSWORD": "test"}
    proc = run(COMPOSE, *args, "config", env=env, cwd=DEPLOY)
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load(proc.stdout)
    services = cfg["services"]
    assert set(services) == {"postgres", "mlflow", "trainer", "lcad"}
    assert "postgresql://" in " ".join(services["mlflow"]["command"])
    gpu = "compose.gpu.yaml" in files  # serving image for lcad; the full one trains, tracks
    assert services["mlflow"]["image"] == "lcad:full"
    assert services["trainer"]["image"] == ("lcad:gpu" if gpu else "lcad:full")
    assert services["lcad"]["image"] == ("lcad:gpu" if gpu else "lcad:cpu")
    assert services["lcad"]["depends_on"]["trainer"]["condition"] == \
        "service_completed_successfully"
    assert services["lcad"]["environment"]["LCAD_MODEL_URI"] == "models:/lcad@champion"
    assert "healthcheck" in services["postgres"]
    reservations = services["lcad"].get("deploy", {}).get("resources", {}).get("reservations")
    assert bool(reservations) == ("compose.gpu.yaml" in files)
    env_keys = {line.split("=")[0] for line in (DEPLOY / ".env.example").read_text().splitlines()
                if line and not line.startswith("#")}
    assert {"POSTGRES_PASSWORD", "LCAD_MODEL_URI", "LCAD_API_KEYS"} <= env_keys


@pytest.mark.parametrize("overlay", ["cpu", "gpu"])
def test_kubernetes_manifests_validate(overlay, tmp_path):
    rendered = run(BIN / "kubectl", "kustomize", DEPLOY / "k8s" / "overlays" / overlay)
    assert rendered.returncode == 0, rendered.stderr
    out = tmp_path / "all.yaml"
    out.write_text(rendered.stdout)
    check = run(BIN / "kubernetes-validate", "--strict", "-k", "1.30.0", out)
    assert check.returncode == 0, check.stdout + check.stderr
    docs = {d["kind"]: d for d in yaml.safe_load_all(rendered.stdout)}
    assert set(docs) == {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap",
                         "Secret"}
    c = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert c["startupProbe"]["httpGet"]["path"] == "/health/ready"
    assert c["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/health/live"
    limits = c["resources"]["limits"]
    assert ("nvidia.com/gpu" in limits) == (overlay == "gpu")
    assert c["image"] == f"lcad:{overlay}"


def test_kubectl_is_the_wheel():
    assert shutil.which("kubectl", path=str(BIN))


def test_the_gpu_variant_resolves(tmp_path):
    """The GPU image's requirements resolve for Python 3.11 on Linux x86_64 (uv, from the
    package index's metadata: the CUDA wheels are not downloaded)."""
    reqs = tmp_path / "gpu.in"
    reqs.write_text(run("python3", DEPLOY / "requirements.py", "gpu").stdout)
    proc = run(BIN / "uv", "pip", "compile", "--quiet", "--python-version", "3.11",
               "--python-platform", "x86_64-manylinux_2_28", str(reqs))
    assert proc.returncode == 0, proc.stderr[-3000:]
    pinned = {line.split("==")[0] for line in proc.stdout.splitlines() if "==" in line}
    assert {"tensorflow", "keras", "mlflow", "psycopg"} <= pinned
    assert any(p.startswith("nvidia-cudnn") for p in pinned)  # pip's CUDA wheels
    assert "jax" not in pinned
