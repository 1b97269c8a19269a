"""A real Docker engine and the image built from this checkout, for the image and compose
tests.

Needs an engine (`docker info` answers). Without one those tests skip, unless
LCAD_REQUIRE_DOCKER=1 (CI sets it, after starting the engine: .ci/run), where a missing
engine fails them. LCAD_DOCKER_BASE names the Python base image to build on instead of the
official python:3.11-slim, LCAD_POSTGRES_IMAGE the compose stack's PostgreSQL instead of
postgres:16.4-bookworm (CI's local stand-ins: deploy/ci/base-images.sh).
LCAD_TEST_IMAGE / LCAD_TEST_FULL_IMAGE name images `.ci/run` has already built from this
checkout (in the background, while the venv was set up); otherwise the tests build them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT

BASE = os.environ.get("LCAD_DOCKER_BASE")
POSTGRES_IMAGE = os.environ.get("LCAD_POSTGRES_IMAGE")
REQUIRE = os.environ.get("LCAD_REQUIRE_DOCKER") == "1"


def docker(*args: str, timeout: float = 120, check: bool = True
           ) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode:
        raise AssertionError(f"docker {' '.join(args)}: {proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def engine() -> None:
    ok = shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], capture_output=True, timeout=60).returncode == 0
    if not ok:
        if REQUIRE:
            pytest.fail("LCAD_REQUIRE_DOCKER=1 but no Docker engine answers `docker info`")
        pytest.skip("no Docker engine here (CI starts one: .ci/run)")


def build(variant: str) -> str:
    """`docker build --build-arg VARIANT=...` of this checkout; the image's tag."""
    tag = f"lcad-test-{variant}:{uuid.uuid4().hex[:8]}"
    args = ["build", "-t", tag, "--build-arg", f"VARIANT={variant}",
            "--build-arg", "LCAD_GIT_COMMIT=test"]
    if BASE:
        args += ["--build-arg", f"PYTHON_IMAGE={BASE}"]
    t0 = time.monotonic()
    proc = docker(*args, str(ROOT), timeout=2400, check=False)
    assert proc.returncode == 0, (proc.stdout[-4000:], proc.stderr[-2000:])
    print(f"{variant} image built in {time.monotonic() - t0:.0f} s")
    return tag


def built(variant: str, prebuilt: str | None) -> Iterator[str]:
    if prebuilt:  # built by .ci/run from this checkout
        docker("image", "inspect", prebuilt)
        yield prebuilt
        return
    tag = build(variant)
    yield tag
    docker("rmi", "-f", tag, check=False)


@pytest.fixture(scope="session")
def image(engine: None) -> Iterator[str]:
    """The serving image, `docker build .` (VARIANT=cpu)."""
    yield from built("cpu", os.environ.get("LCAD_TEST_IMAGE"))


@pytest.fixture(scope="session")
def full_image(engine: None) -> Iterator[str]:
    """The training + MLflow server image (VARIANT=full)."""
    yield from built("full", os.environ.get("LCAD_TEST_FULL_IMAGE"))
