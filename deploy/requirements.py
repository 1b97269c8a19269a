"""Print the runtime requirements of one image variant, from pyproject.toml.

cpu: TensorFlow's CPU wheel (tensorflow-cpu) in place of tensorflow; gpu: tensorflow[and-cuda]
(pip's CUDA wheels: the host needs only the NVIDIA driver and container toolkit).
Both add psycopg (v3) so the image can also run an MLflow server on PostgreSQL. cpu also adds
jax[cpu]: the image serves with `LCAD_BACKEND=auto`, i.e. under JAX where it is installed
(Keras 3 runs the same bundle; the server is ready 2.5-5.5 s sooner than under TensorFlow).
"""

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def requirements(variant: str) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = list(project["dependencies"])
    tf = next(d for d in deps if d.startswith("tensorflow"))
    pins = tf[len("tensorflow"):]
    rest = [d for d in deps if d is not tf]
    extras = project["optional-dependencies"]
    if variant == "cpu":
        head = [f"tensorflow-cpu{pins}"]
        rest += list(extras["jax"])
    elif variant == "gpu":
        head = list(extras["gpu"])
    else:
        raise SystemExit(f"variant must be cpu or gpu, not {variant!r}")
    return head + rest + list(extras["postgres"])


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1] if len(sys.argv) > 1 else "cpu")))
