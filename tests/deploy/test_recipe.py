"""The container recipe and the compose topology, run for real without containers."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    BIN,
    ROOT,
    SMALL_TRAIN,
    free_port,
    stop_process_group,
    wait_http,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def dockerfile_stages():
    """Instructions per stage, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    stages: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        if op == "FROM":
            current = rest.split(" AS ")[-1].strip()
            stages[current] = []
        elif current:
            stages[current].append((op, rest))
    return stages


def parse_env(rest):
    out = {}
    for token in shlex.split(rest):
        k, _, v = token.partition("=")
        out[k] = v
    return out


def dockerignored(rel: str, patterns: list[str]) -> bool:
    """Whether Docker leaves `rel` (a path in the context) out: the last matching pattern of
    .dockerignore wins, `!` re-includes, a match on a folder covers what is inside it."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    out = False
    for pat in patterns:
        keep = pat.startswith("!")
        pat = pat.lstrip("!").strip("/")
        regex = re.escape(pat).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*") \
            .replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, p) for p in prefixes):
            out = not keep
    return out


def build_context_tree(dest: Path) -> Path:
    """The build stage's /src as `docker build` makes it: the context without what
    .dockerignore excludes, then the Dockerfile's COPY lines into WORKDIR."""
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    src = dest / "src"
    src.mkdir(parents=True)
    workdir = None
    for op, rest in dockerfile_stages()["build"]:
        if op == "WORKDIR":
            workdir = rest.strip()
        if op != "COPY" or rest.startswith("--from"):
            continue
        *sources, target = shlex.split(rest)
        assert workdir == "/src" and not target.startswith("/"), (workdir, target)
        for source in sources:
            origin = ROOT / source
            assert origin.exists(), f"COPY {source}: not in the repository"
            into = src / target / origin.name if target.endswith("/") else src / target
            files = [origin] if origin.is_file() else sorted(origin.rglob("*"))
            for f in files:
                rel = f.relative_to(ROOT).as_posix()
                if f.is_dir() or dockerignored(rel, patterns):
                    continue
                out = into if origin.is_file() else into / f.relative_to(origin)
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, out)
    return src


def test_dockerignore_matching_follows_docker():
    pats = ["tests", "**/__pycache__", "*.egg-info", ".venv*", "data/*.csv", "!data/keep.csv"]
    assert dockerignored("tests/x.py", pats)
    assert dockerignored("models/__pycache__/a.pyc", pats)
    assert dockerignored("lcad.egg-info/PKG-INFO", pats)
    assert dockerignored(".venv-compose/bin/python", pats)
    assert dockerignored("data/a.csv", pats) and not dockerignored("data/keep.csv", pats)
    assert not dockerignored("models/tests.py", pats)
    assert not dockerignored("training/data/a.csv", pats)


def test_build_context_holds_what_the_package_needs(tmp_path):
    """What `pip install .` sees inside `docker build`: every module of the package."""
    src = build_context_tree(tmp_path)
    wheel_dir = tmp_path / "wheel"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(wheel_dir), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    import zipfile

    (wheel,) = wheel_dir.glob("lcad-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for pkg, folder in (("lcad", "lcad"), ("lcad/models", "models"),
                        ("lcad/training", "training"), ("lcad/service", "service")):
        for module in (ROOT / folder).rglob("*.py"):  # subpackages too
            rel = f"{pkg}/{module.relative_to(ROOT / folder).as_posix()}"
            if pkg == "lcad" and rel.split("/")[1] in ("models", "training", "service"):
                continue
            assert rel in names, f"{rel} not in the image"


@pytest.fixture(scope="module")
def recipe_venv(tmp_path_factory):
    """A fresh virtualenv built with exactly the Dockerfile's install command, run in
    exactly what the build context holds."""
    stages = dockerfile_stages()
    runs = [rest for op, rest in stages["build"] if op == "RUN" and "install.sh" in rest]
    assert runs == ['sh deploy/install.sh "$VARIANT"']
    context = build_context_tree(tmp_path_factory.mktemp("context"))
    venv = tmp_path_factory.mktemp("recipe") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "VARIANT": "cpu", "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
           "PIP_NO_CACHE_DIR": "1"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(["sh", "-c", runs[0]], cwd=context, env=env, capture_output=True,
                          text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return venv


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, synth_csv):
    out = tmp_path_factory.mktemp("b") / "bundle"
    proc = subprocess.run([str(BIN / "lcad"), "train", "--data", str(synth_csv), "--output",
                           str(out), "--no-tracking", *SMALL_TRAIN], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def test_container_recipe_serves_and_passes_its_healthcheck(recipe_venv, bundle, tmp_path):
    stages = dockerfile_stages()
    runtime = stages["runtime"]
    env = {}
    for op, rest in runtime:
        if op == "ENV":
            env.update(parse_env(rest))
    cmd = json.loads(next(rest for op, rest in runtime if op == "CMD"))
    health = next(rest for op, rest in runtime if op == "HEALTHCHECK")
    health_cmd = json.loads(health.split("CMD", 1)[1])
    # the image's paths -> this machine's: the venv for /opt/lcad, a free loopback port
    env = {k: v.replace("/opt/lcad", str(recipe_venv)) for k, v in env.items()}
    env["PATH"] = env["PATH"].replace("$PATH", "/usr/bin:/bin")
    assert (Path(env["KERAS_HOME"]) / "keras.json").exists()  # written by install.sh
    port = free_port()
    env.update(LCAD_HOST="127.0.0.1", LCAD_PORT=str(port), LCAD_MODEL_URI=str(bundle),
               HOME=str(tmp_path))
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: subprocess.run(health_cmd, env=env, cwd=tmp_path).returncode == 0,
                   "the image's HEALTHCHECK to pass", 120, 1.0, proc)
        t = [0.02 * i for i in range(200)]
        flux = [10 + ((i % 30) / 30) for i in range(200)]
        resp = httpx.post(f"http://127.0.0.1:{port}/v1/score", timeout=60,
                          json={"series": [{"id": "s", "time": t, "flux": flux}]})
        assert resp.status_code == 200, resp.text
        assert resp.json()["results"][0]["id"] == "s"
        info = httpx.get(f"http://127.0.0.1:{port}/v1/model").json()
        assert info["devices"] == ["cpu"]
        assert info["keras_backend"] == "jax"  # LCAD_BACKEND=auto: the CPU image has jax
    finally:
        proc.terminate()
        proc.wait(30)


# ---- the compose topology ------------------------------------------------------------------
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None) \
    if Path("/usr/lib/postgresql").exists() else None


class Postgres:
    def __init__(self, root: Path):
        self.root, self.port = root, free_port()
        self.data, self.sock = root / "data", root / "sock"
        self.as_root = os.geteuid() == 0

    def _run(self, *args):
        cmd = [str(PG_BIN / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def init(self):
        self.root.mkdir(parents=True, exist_ok=True)
        self.sock.mkdir(exist_ok=True)
        if self.as_root:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sock, "postgres")
            self.root.chmod(0o755)
        self._run("initdb", "-D", str(self.data), "-U", "mlflow", "--auth=trust")

    def start(self):
        opts = f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "pg.log"),
                  "-w", "start")

    def stop(self):
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def createdb(self, name):
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "mlflow", name)


def start_mlflow(root: Path, backend: str, port: int):
    log = open(root / f"mlflow-{port}.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port",
                             str(port), "--backend-store-uri", backend,
                             "--artifacts-destination", str(root / "artifacts"),
                             "--serve-artifacts", "--workers", "1"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=root,
                            start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
    return proc


@pytest.mark.skipif(PG_BIN is None, reason="PostgreSQL server binaries not installed")
def test_compose_topology_without_containers(tmp_path):
    import tempfile

    import mlflow
    from mlflow.tracking import MlflowClient

    saved_uri = os.environ.get("MLFLOW_TRACKING_URI")
    # postgres refuses to run as root: as root, its files live where user postgres can reach
    pg_root = Path(tempfile.mkdtemp(prefix="lcad-pg-")) if os.geteuid() == 0 else tmp_path / "pg"
    pg_root.chmod(0o755)
    pg = Postgres(pg_root)
    pg.init()
    pg.start()
    procs = []
    try:
        pg.createdb("mlflow")
        backend = f"postgresql://mlflow@127.0.0.1:{pg.port}/mlflow"
        port = free_port()
        procs.append(start_mlflow(tmp_path, backend, port))
        uri = f"http://127.0.0.1:{port}"
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
        demo = subprocess.run([str(BIN / "lcad"), "demo", "--epochs", "2"], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=900)
        assert demo.returncode == 0, demo.stderr[-3000:]
        serve_port = free_port()
        serve_log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - closed with the process
        serve = subprocess.Popen([str(BIN / "lcad"), "serve", "--port", str(serve_port)],
                                 env={**env, "LCAD_MODEL_URI": "models:/lcad@champion"},
                                 cwd=tmp_path, stdout=serve_log, stderr=subprocess.STDOUT)
        procs.append(serve)
        try:
            wait_http(f"http://127.0.0.1:{serve_port}/health/ready", timeout=180, proc=serve)
        except (TimeoutError, RuntimeError):
            raise AssertionError((tmp_path / "serve.log").read_text()[-3000:]) from None
        t = [131.5 + 0.0204 * i for i in range(300)]
        resp = httpx.post(f"http://127.0.0.1:{serve_port}/v1/score", timeout=60, json={
            "series": [{"id": "k", "time": t, "flux": [((i * 7) % 11) / 11 for i in range(300)]}]})
        assert resp.status_code == 200, resp.text
        model_ref = resp.json()["model"]
        assert model_ref["name"] == "lcad" and model_ref["version"] == "1"

        # stop everything, start again on the same database: nothing is lost
        for p in procs:
            stop_process_group(p, 60)
        procs.clear()
        pg.stop()
        pg.start()
        port2 = free_port()
        procs.append(start_mlflow(tmp_path, backend, port2))
        mlflow.set_tracking_uri(f"http://127.0.0.1:{port2}")
        client = MlflowClient()
        mv = client.get_model_version_by_alias("lcad", "champion")
        assert mv.version == "1"
        runs = client.search_runs([client.get_experiment_by_name("lcad-demo").experiment_id])
        assert len(runs) == 1 and runs[0].data.metrics["epochs_run"] == 2
        model = mlflow.pyfunc.load_model("models:/lcad@champion")
        assert model.metadata.get_input_schema() is not None
    finally:
        for p in procs:
            stop_process_group(p, 60)
        pg.stop()
        mlflow.set_tracking_uri(saved_uri)  # it also sets MLFLOW_TRACKING_URI: restore it
        shutil.rmtree(pg_root, ignore_errors=True)


def test_the_lock_pins_every_runtime_requirement():
    """deploy/requirements-cpu.lock (audited by pip-audit in CI) covers the image's needs."""
    import re
    import subprocess
    import sys

    from tests.conftest import ROOT

    wanted = subprocess.run([sys.executable, str(ROOT / "deploy" / "requirements.py"), "cpu"],
                            capture_output=True, text=True, check=True).stdout.split()
    lock = (ROOT / "deploy" / "requirements-cpu.lock").read_text().lower()
    pinned = set(re.findall(r"^([a-z0-9_.-]+)==", lock, flags=re.M))
    for req in wanted:
        name = re.split(r"[\[<>=!~ ]", req, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pinned, f"{name} is not pinned in deploy/requirements-cpu.lock (make lock)"
