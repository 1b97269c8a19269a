"""Print the runtime requirements of one image variant, from pyproject.toml.

cpu (the default, the serving image): what `lcad serve` imports and nothing else. One Keras
backend, JAX's CPU wheel (no TensorFlow: 2.3 GB of the old image); the MLflow client
(`mlflow-skinny`, the same version range: it loads `models:/` and `runs:/` URIs from a
server) without the server; no matplotlib, astropy, pyarrow or tqdm (training, FITS and
Parquet files, progress bars). Installed from deploy/requirements-cpu.lock (`make lock`).
full: training and the MLflow server on the CPU (the compose stack's trainer and mlflow):
tensorflow-cpu in place of tensorflow, every dependency, jax[cpu] and psycopg (v3, MLflow on
PostgreSQL). gpu: serving and training on a GPU: tensorflow[and-cuda] (pip's CUDA wheels: the
host needs only the NVIDIA driver and container toolkit), every dependency and psycopg.
"""

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("cpu", "full", "gpu")
# the distributions `lcad serve` imports (lcad/, models/, service/), by name in pyproject
SERVE = {"keras", "numpy", "pandas", "pydantic", "pydantic-settings", "pyyaml", "mlflow",
         "scikit-learn", "scipy", "fastapi", "uvicorn", "httpx", "prometheus-client",
         "orjson", "psutil"}


def name(req: str) -> str:
    return re.split(r"[\[<>=!~ ]", req, maxsplit=1)[0].lower()


def requirements(variant: str) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = list(project["dependencies"])
    tf = next(d for d in deps if name(d) == "tensorflow")
    rest = [d for d in deps if d is not tf]
    extras = project["optional-dependencies"]
    if variant == "cpu":
        serve = [d for d in rest if name(d) in SERVE]
        return [d.replace("mlflow", "mlflow-skinny", 1) if name(d) == "mlflow" else d
                for d in serve] + list(extras["jax"])
    if variant == "full":
        return [f"tensorflow-cpu{tf[len('tensorflow'):]}", *rest, *extras["jax"],
                *extras["postgres"]]
    if variant == "gpu":
        return [*extras["gpu"], *rest, *extras["postgres"]]
    raise SystemExit(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")


def keras_backend(variant: str) -> str:
    """The Keras backend an image of `variant` runs (its only one, for cpu)."""
    return "jax" if variant == "cpu" else "tensorflow"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--backend"]:
        print(keras_backend(sys.argv[2] if len(sys.argv) > 2 else "cpu"))
    else:
        print("\n".join(requirements(sys.argv[1] if len(sys.argv) > 1 else "cpu")))
