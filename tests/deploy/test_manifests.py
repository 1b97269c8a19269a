"""Static checks of the Dockerfile, the compose files and the Kubernetes manifests."""

import os
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


def test_variants_install_the_right_tensorflow():
    cpu = run("python3", DEPLOY / "requirements.py", "cpu").stdout.split()
    gpu = run("python3", DEPLOY / "requirements.py", "gpu").stdout.split()
    assert cpu[0].startswith("tensorflow-cpu") and not any(r.startswith("tensorflow[")
                                                           for r in cpu)
    assert gpu[0].startswith("tensorflow[and-cuda]")
    # the CPU image also serves under JAX (LCAD_BACKEND=auto); the GPU image stays on TF-GPU
    assert [r for r in cpu[1:] if not r.startswith("jax")] == gpu[1:]
    assert any(r.startswith("jax[cpu]") for r in cpu) and not any(r.startswith("jax")
                                                                  for r in gpu)
    assert "LCAD_BACKEND=auto" in (ROOT / "Dockerfile").read_text()


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
