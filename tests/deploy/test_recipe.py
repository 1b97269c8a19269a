"""The image recipe checked without an engine: the build context as `docker build` sees it,
the lock file (the image itself is built and run in tests/deploy/test_image.py)."""

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import (
    ROOT,
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
