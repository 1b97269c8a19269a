"""`lcad train --processes N`: data-parallel training in N local processes on the JAX
backend (keras.distribution.DataParallel over jax.distributed)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from lcad.models.detector import Detector
from tests.conftest import SMALL_TRAIN

pytest.importorskip("jax", reason="the dev install has JAX; multi-process training needs it")


def train(data, out, processes, *extra, env=None):
    proc = subprocess.run(
        [sys.executable, "-m", "lcad.cli", "train", "--data", str(data), "--output", str(out),
         "--processes", str(processes), *SMALL_TRAIN, "--set", "train.epochs=4",
         "--set", "train.batch_size=64", *extra],
        capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def losses(bundle):
    history = Detector.load(bundle).info.history
    assert len(history) == 4
    return {key: [h[key] for h in history] for key in ("loss", "val_loss")}


@pytest.mark.parametrize("variant", ["plain", "variational"])
def test_two_processes_follow_the_loss_curve_of_one(synth_csv, tmp_path, variant):
    """The same global batches in the same row order, so the same loss curve to float
    rounding; the variational default too (row i of a global batch draws the same sampling
    noise whatever the number of processes)."""
    net = ("--set", f"model.variant={variant}")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    one = train(synth_csv, tmp_path / "one", 1, "--no-tracking", *net)
    two = train(synth_csv, tmp_path / "two", 2, "--experiment", "dist", *net,
                env={"MLFLOW_TRACKING_URI": uri})
    assert one.stdout.count("epoch ") == two.stdout.count("epoch ") == 4  # process 0 only
    a, b = losses(tmp_path / "one"), losses(tmp_path / "two")
    for key in a:
        np.testing.assert_allclose(b[key], a[key], rtol=1e-5, err_msg=key)
    assert a["loss"][-1] < 0.7 * a["loss"][0]  # it learned
    import mlflow

    mlflow.set_tracking_uri(uri)
    (run,) = mlflow.search_runs(experiment_names=["dist"], output_format="list")
    assert run.data.params["train.processes"] == "2"
    assert run.data.params["train.keras_backend"] == "jax"
    assert run.data.params["model.variant"] == variant


def test_a_dead_trainer_stops_the_others_and_says_why(synth_csv, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "lcad.cli", "train", "--data", str(synth_csv), "--output",
         str(tmp_path / "m"), "--processes", "2", "--no-tracking", *SMALL_TRAIN,
         "--set", "train.batch_size=63"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2
    assert "not a multiple of the 2 training processes" in proc.stderr
    assert not (tmp_path / "m").exists()
