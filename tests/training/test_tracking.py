"""`lcad` as a process against a real MLflow tracking server over HTTP."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lcad.models.detector import Detector
from lcad.models.frames import curves_from_frame
from tests.conftest import BIN, SMALL_TRAIN, free_port, wait_http, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def lcad(*args, env=None, cwd=None, timeout=600):
    return subprocess.run([str(BIN / "lcad"), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def registered(mlflow_server, synth_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("reg") / "bundle"
    proc = lcad("train", "--data", str(synth_csv), "--output", str(out), "--experiment", "it",
                "--register-as", "lcad-it", "--promote", *SMALL_TRAIN,
                env={"MLFLOW_TRACKING_URI": mlflow_server})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc.stdout


def test_run_has_params_epoch_metrics_and_artifacts(mlflow_server, registered):
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(mlflow_server)
    client = MlflowClient()
    (run,) = client.search_runs([client.get_experiment_by_name("it").experiment_id])
    assert run.data.params["model.latent"] == "4"
    assert run.data.params["preprocess.window"] == "32"
    assert run.data.tags["keras.backend"] == "tensorflow" and "git.commit" in run.data.tags
    # what the "auto" defaults became for this data
    assert run.data.tags["lcad.point_score"] in ("scan", "novelty")
    novelty = run.data.tags["lcad.point_score"] == "novelty"
    # and why, the sentence the CLI prints after "point score:"
    assert run.data.tags["lcad.point_score_reason"].startswith(
        "novelty (each" if novelty else "the residual scan (")
    assert ("lcad.novelty_views" in run.data.tags) == novelty  # e.g. "1,4"
    # what `lcad score --look-for` can ask of it: a novelty model also events
    assert run.data.tags["lcad.look_for"] == ("shapes,events" if novelty else "events")
    # what the autoencoder learned: a tag to filter runs by, and the numbers behind it
    assert run.data.tags["lcad.autoencoder"] in ("learned", "white-noise", "constant",
                                                    "little")
    assert {"recon_r2", "recon_r2_ceiling", "active_units"} <= set(run.data.metrics)
    assert run.data.tags["lcad.normalization"] in ("global", "robust")
    assert len(client.get_metric_history(run.info.run_id, "val_loss")) == 3
    for key in ("threshold", "val_error_p99", "train_seconds", "windows_per_second",
                "val_false_alarm_rate"):
        assert key in run.data.metrics
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {"plots/loss_curves.png", "plots/reconstructions.png",
                     "plots/score_histogram.png", "plots/latent_space.png"}
    assert "config.yaml" in {a.path for a in client.list_artifacts(run.info.run_id)}
    dataset = run.inputs.dataset_inputs[0].dataset
    assert dataset.name == "train" and len(dataset.digest) == 8
    assert json.loads(dataset.profile)["num_rows"] == int(run.data.params["data.n_train_points"])
    assert int(run.data.params["data.n_train_points"]) > 0
    version = client.get_model_version_by_alias("lcad-it", "champion")
    assert version.version == "1"
    assert f"mlflow run: {run.info.run_id}" in registered[1]
    # a detection metric a person can rank runs by: events injected into held-out curves
    assert 0.0 <= run.data.metrics["injected.pr_auc"] <= 1.0
    assert 0.0 <= run.data.metrics["injected.event_recall"] <= 1.0
    # the reconstruction apart from the KL term (same quantity for every variant)
    assert len(client.get_metric_history(run.info.run_id, "val_recon_loss")) == 3
    # what "auto" became, as params (the cadence appears nowhere in the config)
    assert float(run.data.params["resolved.cadence"]) > 0
    assert run.data.params["resolved.mode"] == "sliding"
    assert run.data.params["resolved.point_score"] == run.data.tags["lcad.point_score"]
    summary = client.download_artifacts(run.info.run_id, "model_summary.txt")
    assert "encoder" in Path(summary).read_text()
    # the experiment opens on its runs in the MLflow UI, not on the GenAI overview
    assert client.get_experiment_by_name("it").tags["mlflow.experimentKind"] == \
        "custom_model_development"
    assert "epoch 3/3" in registered[1]  # lcad's own progress line, with the total


def test_evaluate_logs_a_run_tagged_with_the_evaluated_model(mlflow_server, registered,
                                                             synth_csv, tmp_path):
    from mlflow.tracking import MlflowClient

    ids = sorted(pd.read_csv(synth_csv)["object_id"].unique())
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"object_id": ids, "label": [i % 4 == 0 for i in range(len(ids))]}).to_csv(
        labels, index=False)
    proc = lcad("evaluate", "--model", str(registered[0]), "--data", str(synth_csv),
                "--labels", str(labels), env={"MLFLOW_TRACKING_URI": mlflow_server})
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, second = proc.stdout.splitlines()[:2]  # what was read, then what was scored
    assert first == "columns: object object_id, time time, flux flux, error flux_err, band - " \
        "(one band)"
    assert second.startswith(f"scoring {len(ids)} curve(s)")
    client = MlflowClient(mlflow_server)
    (run,) = client.search_runs([client.get_experiment_by_name("lcad-evaluate").experiment_id])
    assert f"mlflow run: {run.info.run_id}" in proc.stdout
    assert 0.0 <= run.data.metrics["eval.roc_auc"] <= 1.0
    (trained,) = client.search_runs([client.get_experiment_by_name("it").experiment_id])
    assert run.data.tags["lcad.evaluated_run"] == trained.info.run_id
    assert run.data.params["labels"] == str(labels)
    got = json.loads(Path(client.download_artifacts(run.info.run_id, "evaluation.json"))
                     .read_text())
    assert got["methods"]["lcad"]["roc_auc"] == pytest.approx(run.data.metrics["eval.roc_auc"])


def test_registered_pyfunc_scores_like_the_detector(mlflow_server, registered, synth_csv):
    import mlflow

    mlflow.set_tracking_uri(mlflow_server)
    model = mlflow.pyfunc.load_model("models:/lcad-it@champion")
    frame = pd.read_csv(synth_csv)
    frame = frame[frame.object_id.isin(["synth-0000", "synth-0001"])]
    got = model.predict(frame)
    det = Detector.load(registered[0])
    want = det.score(curves_from_frame(frame, emit_warnings=False)).points_frame()
    np.testing.assert_allclose(got["score"].to_numpy(), want["score"].to_numpy(), rtol=1e-6)
    assert got["is_anomaly"].tolist() == want["is_anomaly"].tolist()
    # the spread over random passes, through the logged signature's `samples` param
    spread = model.predict(frame, params={"samples": 3, "output": "objects"})
    assert list(spread.columns[-2:]) == ["score_mean", "score_std"] and len(spread) == 2
    assert (spread["score_std"] >= 0).all()
    # the model asked for events (the scan calibrated beside its novelty), as in-process
    assert det.look_for == ["shapes", "events"]
    asked = model.predict(frame, params={"look_for": "events"})
    want = det.looking_for("events").score(curves_from_frame(frame, emit_warnings=False))
    np.testing.assert_allclose(asked["score"].to_numpy(), want.points_frame()["score"],
                               rtol=1e-6)
    assert not np.allclose(asked["score"].to_numpy(), got["score"].to_numpy())
    with pytest.raises(Exception, match=r"choose one of \['events', 'shapes'\]"):
        model.predict(frame, params={"look_for": "flares"})
    # the model carries the lcad package it needs (code_paths), and only that
    from pathlib import Path

    local = Path(mlflow.artifacts.download_artifacts("models:/lcad-it@champion"))
    code = local / "code"
    assert sorted(p.name for p in code.iterdir()) == ["lcad"]
    for module in ("__init__.py", "models/detector.py", "training/mlflow_model.py",
                   "service/app.py"):
        assert (code / "lcad" / module).is_file(), module
    assert not list(code.rglob("__pycache__")) and not list(code.rglob("*.csv"))


def test_score_with_a_registry_uri(mlflow_server, registered, synth_csv, tmp_path):
    out = tmp_path / "s.csv"
    proc = lcad("score", "--model", "models:/lcad-it@champion", "--data", str(synth_csv),
                "--output", str(out), env={"MLFLOW_TRACKING_URI": mlflow_server})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(pd.read_csv(out)) == len(pd.read_csv(synth_csv))
    bad = lcad("score", "--model", "models:/no-such-model@champion", "--data", str(synth_csv),
               "--output", str(out), env={"MLFLOW_TRACKING_URI": mlflow_server})
    assert bad.returncode == 2 and "no-such-model" in bad.stderr


def test_unreachable_server_is_reported_before_training(synth_csv, tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    proc = lcad("train", "--data", str(synth_csv), "--output", str(tmp_path / "b"),
                env={"MLFLOW_TRACKING_URI": uri})
    assert proc.returncode == 2
    assert uri in proc.stderr and "unreachable" in proc.stderr
    assert "Epoch" not in proc.stdout and not (tmp_path / "b").exists()
    assert time.monotonic() - t0 < 60


@pytest.mark.parametrize("store", ["./mlruns", "file:///{tmp}/mlruns"])
def test_a_file_store_mlflow_refuses_is_named_before_any_work(store, synth_csv, tmp_path):
    """MLflow 3 refuses its file store: said as an lcad error naming the variable and the
    default, before training or scoring, not as a traceback after them."""
    env = {"MLFLOW_TRACKING_URI": store.format(tmp=tmp_path)}
    train = lcad("train", "--data", str(synth_csv), "--output", str(tmp_path / "b"), env=env)
    score = lcad("evaluate", "--model", str(tmp_path / "none"), "--data", str(synth_csv),
                 "--labels", str(synth_csv), env=env)
    for proc in (train, score):
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert "MLFLOW_TRACKING_URI" in proc.stderr and "sqlite:///mlruns.db" in proc.stderr
        assert "Traceback" not in proc.stderr and "Epoch" not in proc.stdout
    assert not (tmp_path / "b").exists()


def test_killed_training_resumes_in_the_same_run_and_matches_an_uninterrupted_one(
        synth_csv, tmp_path):
    from mlflow.tracking import MlflowClient

    out = tmp_path / "bundle"
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": store}
    common = ["--data", str(synth_csv), "--experiment", "resume",
              "--set", "preprocess.window=32", "--set", "model.hidden=[256, 128]",
              "--set", "train.epochs=12", "--set", "train.patience=50", "--set", "train.stride=1"]
    args = ["train", "--output", str(out), *common]
    proc = subprocess.Popen([str(BIN / "lcad"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    state = tmp_path / ".bundle.checkpoint" / "state.json"
    wait_until(lambda: state.exists() and json.loads(state.read_text())["epoch"] >= 1,
               "a finished epoch's checkpoint", 300, 0.2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.loads(state.read_text())["epoch"]
    assert done < 11 and not out.exists()
    resumed = lcad(*args, "--resume", env={"MLFLOW_TRACKING_URI": store})
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming from epoch {done + 1}" in resumed.stdout
    det = Detector.load(out)
    assert [h["epoch"] for h in det.info.history] == list(range(12))
    assert not state.parent.exists()
    # the run was continued, not duplicated; every epoch is in it exactly once
    client = MlflowClient(tracking_uri=store)
    runs = client.search_runs([client.get_experiment_by_name("resume").experiment_id])
    assert [r.info.run_id for r in runs] == [det.info.run_id]
    assert runs[0].info.status == "FINISHED"
    assert sorted(m.step for m in client.get_metric_history(det.info.run_id, "loss")) == \
        list(range(12))
    # the same training without the interruption: same epochs seen, same quality
    ref_out = tmp_path / "reference"
    ref = lcad("train", "--output", str(ref_out), "--no-tracking", *common)
    assert ref.returncode == 0, ref.stderr[-2000:]
    reference = Detector.load(ref_out)
    assert len(reference.info.history) == len(det.info.history) == 12
    assert det.metrics["best_val_loss"] == pytest.approx(reference.metrics["best_val_loss"],
                                                         rel=0.25)


class StopError(Exception):
    """Raised by `stop_in_second_training`'s printer: the run stops as if killed."""


def stop_in_second_training(printer, at_epoch):
    """An epoch printer (`printer`, lcad's `EpochPrinter`) that stops the run at `at_epoch`
    of its second training (the one on windows of periods); `trainings` resets it."""

    class StopInSecondTraining(printer):
        trainings = 0

        def on_train_begin(self, logs=None):
            type(self).trainings += 1

        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            if type(self).trainings == 2 and epoch == at_epoch:
                raise StopError

    return StopInSecondTraining


def test_a_training_stopped_on_its_windows_of_one_period_resumes_there(tmp_path,
                                                                       monkeypatch):
    """A structured series that repeats (an ECG-like discord, trained at window 64, then on
    windows of one period) stopped in its second training: --resume goes on with it (its
    config and network from the checkpoint), the bundle's history is the final network's,
    and the run holds the first training's epochs and then the second's, each step once."""
    from mlflow.tracking import MlflowClient

    from bench.quality import discord_cases
    from lcad.models.config import DetectorConfig
    from lcad.training import train as train_module

    StopInSecondTraining = stop_in_second_training(train_module.EpochPrinter, 2)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)  # run_training points MLflow there
    monkeypatch.setattr(train_module, "EpochPrinter", StopInSecondTraining)
    case = discord_cases()[0]
    cfg = DetectorConfig().with_overrides(["train.epochs=12", "train.patience=50"])
    out = tmp_path / "bundle"

    def request(resume):
        return train_module.TrainRequest(cfg=cfg, curves=[case.train], output=out,
                                         data_source="ecg", experiment="refit", resume=resume)

    with pytest.warns(Warning, match="trained again with windows of one period"), \
            pytest.raises(StopError):
        train_module.run_training(request(False))
    saved = json.loads((tmp_path / ".bundle.checkpoint" / "state.json").read_text())
    assert saved["step_offset"] == 12 and saved["epoch"] == 2 and not out.exists()
    StopInSecondTraining.trainings = 0  # no second training now: it goes on from epoch 3
    outcome = train_module.run_training(request(True))
    det = outcome.detector
    assert 120 <= det.window < 160 and det.point_method == "novelty"
    assert [h["epoch"] for h in det.info.history] == list(range(12))
    assert outcome.metrics["training_period"] == outcome.metrics["window_period"] == det.window
    steps = sorted(m.step for m in MlflowClient(tracking_uri=store).get_metric_history(
        outcome.run_id, "loss"))
    assert steps == list(range(24))


def test_a_scan_network_on_whole_cycles_resumes_past_the_deciding_networks_epochs(
        tmp_path, monkeypatch, capsys):
    """The scan's network on windows of two periods trains up to
    3 x train.epochs (preprocess.scan_period_epoch_factor): stopped in that training past
    train.epochs, --resume goes on to its own total (not "already finished"), and the epoch
    lines count against it."""
    from lcad.models.config import DetectorConfig
    from lcad.models.lightcurve import LightCurve
    from lcad.training import train as train_module

    StopInSecondTraining = stop_in_second_training(train_module.EpochPrinter, 18)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setattr(train_module, "EpochPrinter", StopInSecondTraining)
    rng = np.random.default_rng(8)
    t = np.arange(5000.0)
    curve = LightCurve.from_arrays("p", t, np.sin(2 * np.pi * t / 200) + 0.3 * np.sin(
        4 * np.pi * t / 200) + rng.normal(0, 0.05, t.size), emit_warnings=False)
    # 17 epochs: the deciding network reconstructs the cycle's stretches (the scan)
    cfg = DetectorConfig().with_overrides(["train.patience=50", "train.epochs=17",
                                           "preprocess.scan_period_epoch_factor=2"])
    out = tmp_path / "bundle"

    def request(resume):
        return train_module.TrainRequest(cfg=cfg, curves=[curve], output=out,
                                         data_source="sine", experiment="scan-refit",
                                         resume=resume)

    with pytest.warns(Warning, match=r"keeping the residual scan .*, up to 34 epochs"), \
            pytest.raises(StopError):
        train_module.run_training(request(False))
    saved = json.loads((tmp_path / ".bundle.checkpoint" / "state.json").read_text())
    assert saved["step_offset"] == 17 and saved["epoch"] == 18 and not out.exists()
    assert "epoch 17/17 " in capsys.readouterr().out
    StopInSecondTraining.trainings = 0
    outcome = train_module.run_training(request(True))
    printed = capsys.readouterr().out
    assert "epoch 33/34 " in printed and "epoch 34/34 " in printed, printed
    det = outcome.detector
    assert det.point_method == "scan" and det.config.train.epochs == 34
    assert [h["epoch"] for h in det.info.history] == list(range(34))
    # said as the uninterrupted run says it, not as the retrained config's own scan
    assert det.info.point_score_reason.endswith(
        "chosen by scoring.point=auto on windows of 64 grid points (their held-out "
        "residuals were white) and kept on the windows of the period"), \
        det.info.point_score_reason
    assert outcome.metrics["window_period"] == det.window
    assert 2 * outcome.metrics["training_period"] == det.window  # windows of two periods


def test_demo_runs_on_a_fresh_directory(tmp_path):
    proc = lcad("demo", "--epochs", "2", cwd=tmp_path,
                env={"MLFLOW_TRACKING_URI": ""})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "registered model:  models:/lcad@champion (version 1)" in proc.stdout
    assert "isolation_forest" in proc.stdout and "mlflow" in proc.stdout
    assert (tmp_path / "mlruns.db").exists()
    assert (tmp_path / "lcad-output" / "demo-model" / "config.json").exists()
    # the commands it prints as "next" work, as printed, on the demo's own files
    nexts = [line.split() for line in proc.stdout.split("\nnext:\n", 1)[1].splitlines()
             if line.strip() and Path(line.split()[0]).name == "lcad"]
    assert [cmd[1] for cmd in nexts] == ["score", "evaluate"]
    for cmd in nexts:
        done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "MLFLOW_TRACKING_URI": ""})
        assert done.returncode == 0, (cmd, done.stderr[-3000:])
    scored = pd.read_csv(tmp_path / "lcad-output" / "scores.objects.csv")
    assert scored["score"].notna().all()
    # lcad's own lines only: no MLflow INFO, download bars or registry echoes, no TF start-up
    console = proc.stdout + proc.stderr
    for noise in ("INFO mlflow", "Downloading artifacts", "Successfully registered model",
                  "Created version", "absl", "cuda", "WARNING:tensorflow"):
        assert noise not in console, noise
    assert len(console.strip().splitlines()) <= 30, console
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("lcad-demo").experiment_id])
    # one name per metric in demo, train, sweep and evaluate: eval.* against labels
    assert {"eval.pr_auc", "eval.event_recall", "eval.isolation_forest.pr_auc",
            "injected.pr_auc"} <= set(run.data.metrics)
    _readme_block_runs_after_the_demo(tmp_path)
    _readme_viewer_serves_the_demo_catalogue(tmp_path)


def _readme_commands(section):
    """The shell commands of a README section's first bash block, continuation lines joined."""
    text = (Path(__file__).parents[2] / "README.md").read_text()
    block = text.split(f"## {section}\n", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [" ".join(cmd.split()) for cmd in block.replace("\\\n", " ").splitlines()
            if cmd.strip() and not cmd.lstrip().startswith("#")]


def _readme_block_runs_after_the_demo(cwd):
    """The README's train / score / evaluate / sweep block, pasted into the demo's directory
    (the repository's .venv and examples/ beside it, the shared data where it says)."""
    root = Path(__file__).parents[2]
    (cwd / "examples").symlink_to(root / "examples")
    shared = root.parent / "shared" / "data"
    commands = _readme_commands("Train, score, evaluate")
    assert [c.split()[0] for c in commands] == [".venv/bin/lcad"] * 4 + [".venv/bin/mlflow"]
    for cmd in commands[:4]:
        cmd = cmd.replace(".venv/bin/", f"{BIN}/").replace("../shared/data", str(shared))
        done = subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True,
                              timeout=900, env={**os.environ, "MLFLOW_TRACKING_URI": ""})
        assert done.returncode == 0, (cmd, done.stderr[-3000:])
    assert (BIN / "mlflow").exists()  # the UI command's program (a server: not started here)
    scores = pd.read_parquet(cwd / "lcad-output" / "scores.objects.parquet")
    assert scores["score"].notna().all() and scores["is_anomalous"].any()


def _readme_viewer_serves_the_demo_catalogue(cwd):
    """The README's viewer command, as pasted (on a free port), serves the demo's evaluation
    stars ranked, each one in full, and the page."""
    import httpx

    (cmd,) = [c for c in _readme_commands("Look, compare, label: the viewer")
              if c.startswith(".venv/bin/lcad serve")]
    port = free_port()
    args = [*cmd.replace(".venv/bin/", f"{BIN}/").split(), "--port", str(port)]
    with open(cwd / "viewer.log", "w") as log:
        proc = subprocess.Popen(args, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "MLFLOW_TRACKING_URI": ""})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/health/ready", timeout=120, proc=proc)
        body = wait_until(lambda: (r := httpx.get(url + "/v1/catalogue", timeout=60)).status_code
                          == 200 and r.json(), "the demo catalogue", 300, 1.0, proc)
        stars = pd.read_csv(cwd / "lcad-output" / "demo-evaluation.csv")["object_id"].unique()
        assert body["n_objects"] == len(stars) and not body["skipped"]
        top = body["objects"][0]
        one = httpx.get(f"{url}/v1/catalogue/{top['object_id']}", timeout=60).json()
        assert one["score"] == pytest.approx(top["score"]) and one["points"]["time"]
        assert len(one["neighbours"]) == len(stars) - 1
        assert httpx.get(url + "/ui", timeout=30).status_code == 200
        assert (cwd / "lcad-output" / "demo-evaluation.labels.db").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _start_mlflow(root, port):
    log = open(root / "server.log", "a")  # noqa: SIM115 - closed by the caller's kill
    proc = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts"), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
    return proc


def _kill_mlflow(proc):
    """SIGKILL the server and its uvicorn workers and job consumers (its process group)."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_server_dies_mid_training_bundle_survives_and_log_run_completes_the_run(
        synth_csv, tmp_path):
    from mlflow.tracking import MlflowClient

    root = tmp_path / "mlflow"
    root.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = _start_mlflow(root, port)
    out = tmp_path / "bundle"
    proc = subprocess.Popen(
        [str(BIN / "lcad"), "train", "--data", str(synth_csv), "--output", str(out),
         "--experiment", "dies", "--register-as", "lcad-dies",
         "--set", "preprocess.window=32", "--set", "model.hidden=[256, 128]",
         "--set", "train.epochs=25", "--set", "train.patience=50", "--set", "train.stride=1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": url})
    client = MlflowClient(tracking_uri=url)
    run_id, before = None, []
    def two_epochs_logged() -> bool:
        nonlocal run_id, before
        exp = client.get_experiment_by_name("dies")
        runs = client.search_runs([exp.experiment_id]) if exp else []
        if runs:
            run_id = runs[0].info.run_id
            before = client.get_metric_history(run_id, "loss")
        return len(before) >= 2

    try:
        wait_until(two_epochs_logged, "two logged epochs", 300, 0.2, proc)
        params_before = client.get_run(run_id).data.params
    finally:
        _kill_mlflow(server)
    _stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    assert "not logged to MLflow" in stderr and f"lcad log-run {out}" in stderr
    det = Detector.load(out)  # the bundle is complete without the server
    epochs = [h["epoch"] for h in det.info.history]
    assert epochs == list(range(25)) and det.info.run_id == run_id

    server = _start_mlflow(root, port)
    try:
        # what was logged before the crash is intact
        kept = {m.step: m.value for m in client.get_metric_history(run_id, "loss")}
        assert all(kept[m.step] == m.value for m in before)
        done = lcad("log-run", str(out), "--register-as", "lcad-dies",
                    env={"MLFLOW_TRACKING_URI": url})
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"mlflow run {run_id} (continued)" in done.stdout
        run = client.get_run(run_id)
        history = client.get_metric_history(run_id, "loss")
        assert sorted(m.step for m in history) == epochs  # each epoch exactly once
        by_step = {m.step: m.value for m in history}
        assert all(by_step[m.step] == m.value for m in before)
        assert by_step[24] == pytest.approx(det.info.history[24]["loss"])
        assert run.data.params == {**params_before, **run.data.params}
        assert set(params_before) <= set(run.data.params)
        assert run.data.metrics["threshold"] == pytest.approx(det.metrics["threshold"])
        assert run.info.status == "FINISHED" and run.data.tags["lcad.model_logged"] == "true"
        version = client.get_model_version_by_alias("lcad-dies", "candidate")
        assert version.run_id == run_id
        again = lcad("log-run", str(out), env={"MLFLOW_TRACKING_URI": url})
        assert again.returncode == 0 and "0 epoch(s)" in again.stdout
        assert "model already logged" in again.stdout
        assert len(client.get_metric_history(run_id, "loss")) == 25
    finally:
        _kill_mlflow(server)


def test_a_store_is_opened_once_a_process_and_a_refused_one_every_time(tmp_path, monkeypatch):
    """The CLI checks the store before work and `tracking.connect` after it: a store that
    opened is not opened again; one MLflow refuses is refused each time."""
    import mlflow

    from lcad import registry

    opened = []
    real = mlflow.MlflowClient
    monkeypatch.setattr(mlflow, "MlflowClient", lambda **kw: opened.append(kw) or real(**kw))
    good = f"sqlite:///{tmp_path}/once.db"
    registry.check_tracking(good)
    registry.check_tracking(good)
    assert len(opened) == 1
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    bad = f"file://{tmp_path}/mlruns"
    for _ in range(2):
        with pytest.raises(registry.TrackingError, match="cannot use the tracking store"):
            registry.check_tracking(bad)
    assert len(opened) == 3
