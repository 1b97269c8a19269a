"""`lcad` driven through its entry point: train, score, evaluate, sweep, and bad input."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lcad.cli import main
from lcad.models.config import DetectorConfig
from lcad.models.detector import Detector
from lcad.models.lightcurve import LightCurve
from lcad.training.scoring import objects_path
from tests.conftest import SMALL_TRAIN, SYNTH


@pytest.fixture(scope="module")
def trained(synth_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "bundle"
    code = main(["train", "--data", str(synth_csv), "--output", str(out), "--no-tracking",
                 *SMALL_TRAIN])
    assert code == 0
    return out


def test_train_writes_a_loadable_bundle(trained, capsys):
    det = Detector.load(trained)
    assert det.window == 32 and det.config.train.epochs == 3
    assert len(det.info.history) == det.metrics["epochs_run"]
    learned = det.info.autoencoder  # saved with the bundle: what the network learned
    assert learned["status"] in ("learned", "white-noise", "constant", "little")
    assert learned["active_units"] == det.metrics["active_units"]
    assert learned["recon_r2"] == pytest.approx(det.metrics["recon_r2"], abs=1e-4)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_score_writes_points_and_objects(trained, synth_csv, tmp_path, suffix, capsys):
    out = tmp_path / f"scores{suffix}"
    assert main(["score", "--model", str(trained), "--data", str(synth_csv),
                 "--output", str(out), "--batch-objects", "5"]) == 0
    read = pd.read_parquet if suffix == ".parquet" else pd.read_csv
    points = read(out)
    objects = read(tmp_path / f"scores.objects{suffix}")
    source = pd.read_csv(synth_csv)
    assert len(points) == len(source) and len(objects) == 12
    assert list(points.columns) == ["object_id", "time", "band", "flux", "reconstruction",
                                    "score", "p_value", "is_anomaly"]
    assert points["score"].notna().mean() > 0.95
    assert "scored 12 object(s)" in capsys.readouterr().out


def test_score_without_output_writes_beside_a_default_and_names_the_strongest(
        trained, synth_csv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["score", "--model", str(trained), "--data", str(synth_csv),
                 "--batch-objects", "5"]) == 0
    out = capsys.readouterr().out
    stem = Path(synth_csv).name.split(".")[0]
    where = tmp_path / "lcad-output" / "scores"
    assert f"points: lcad-output/scores/{stem}.csv" in out
    objects = pd.read_csv(where / f"{stem}.objects.csv")
    intervals = pd.read_csv(where / f"{stem}.intervals.csv")
    assert len(objects) == 12 and len(intervals) > 0
    # the printed tables are the files' rows with the smallest p-values, in that order
    listed = out.split("most anomalous objects (of 12):\n")[1].split("strongest intervals")[0]
    first = [line.split()[0] for line in listed.strip().splitlines()[1:]]
    expected = objects.sort_values(["p_value", "score"], ascending=[True, False])
    assert first == expected["object_id"].astype(str).head(5).tolist()
    shown = out.split(f"strongest intervals (of {len(intervals)}):\n")[1].strip().splitlines()
    assert len(shown) == 1 + min(5, len(intervals))
    best = intervals.sort_values(["p_value", "peak_score"], ascending=[True, False]).iloc[0]
    assert shown[1].split()[:2] == [str(best["object_id"]), f"{best['start']:.6g}"]


def test_score_counts_unscored_and_refuses_when_nothing_scores(trained, synth_csv, tmp_path,
                                                               capsys):
    frame = pd.read_csv(synth_csv)
    good = frame[frame.object_id == frame.object_id.iloc[0]]
    step = float(np.median(np.diff(good["time"])))
    sparse_t = np.arange(0, 800 * step, 10 * step)  # an observation every 10 grid steps
    sparse = pd.DataFrame({"object_id": "sparse", "time": sparse_t,
                           "flux": np.sin(sparse_t)})
    short = pd.DataFrame({"object_id": "short", "time": [0.0, step], "flux": [1.0, 2.0]})
    data = tmp_path / "mixed.csv"
    pd.concat([good[["object_id", "time", "flux"]], sparse, short]).to_csv(data, index=False)
    out = tmp_path / "s.csv"
    assert main(["score", "--model", str(trained), "--data", str(data), "--output",
                 str(out)]) == 0
    captured = capsys.readouterr()
    assert "scored 2 object(s)" in captured.out and "; 1 skipped" in captured.out
    assert "skipped short:" in captured.err
    assert "warning: 1 of 2 object(s) have no score" in captured.err and "sparse" in \
        captured.err
    assert "grid step" in captured.err and "trained at their sampling" in captured.err
    objects = pd.read_csv(tmp_path / "s.objects.csv").set_index("object_id")
    assert np.isnan(objects.loc["sparse", "score"]) and np.isfinite(objects.iloc[0]["score"])
    only_short = tmp_path / "short.csv"
    short.to_csv(only_short, index=False)
    assert main(["score", "--model", str(trained), "--data", str(only_short), "--output",
                 str(tmp_path / "t.csv")]) == 2
    assert "no object of" in capsys.readouterr().err


def test_score_never_writes_over_its_data(trained, synth_csv, tmp_path, capsys):
    """`--output` naming the data file (or a file the objects or intervals would go to) is
    refused before anything is written: the data stays as it was."""
    data = tmp_path / "curves.csv"
    data.write_bytes(synth_csv.read_bytes())
    beside = tmp_path / "curves.objects.csv"  # data that `--output curves.csv`'s objects hit
    beside.write_bytes(synth_csv.read_bytes())
    (tmp_path / "sub").mkdir()
    for source, output in ((data, data), (data, tmp_path / "sub" / ".." / "curves.csv"),
                           (beside, data)):  # the last: its objects would go to `beside`
        assert main(["score", "--model", str(trained), "--data", str(source), "--output",
                     str(output)]) == 2
        assert f"would write over the data file {source.resolve()}:" in \
            capsys.readouterr().err
    assert main(["score", "--model", str(trained), "--data", str(tmp_path), "--output",
                 str(tmp_path / "curves.csv")]) == 2
    assert "would write over the data file" in capsys.readouterr().err
    assert data.read_bytes() == beside.read_bytes() == synth_csv.read_bytes()


def test_score_reports_repairs_as_train_does(trained, synth_csv, tmp_path, capsys):
    frame = pd.read_csv(synth_csv)
    one = frame[frame.object_id == frame.object_id.iloc[0]].copy()
    one.loc[one.index[10:13], "flux"] = np.nan  # three points masked
    one = one.iloc[::-1]  # and unsorted
    data = tmp_path / "messy.csv"
    one.to_csv(data, index=False)
    assert main(["score", "--model", str(trained), "--data", str(data), "--output",
                 str(tmp_path / "m.csv")]) == 0
    err = capsys.readouterr().err
    assert "repaired 1 curve(s)" in err
    assert "masked 3 point(s) with non-finite flux" in err and "sorted" in err


def test_evaluate_with_baselines(trained, tmp_path, capsys):
    from lcad.models.synthetic import inject, synthetic_dataset, to_frame

    rng = np.random.default_rng(0)
    curves, _ = synthetic_dataset(4, seed=11, **SYNTH)
    inj = [inject(c, "flare", rng, amplitude=5) for c in curves]
    data = tmp_path / "eval.csv"
    to_frame(curves).to_csv(data, index=False)
    labels = tmp_path / "labels.csv"
    pd.DataFrame([{"object_id": i.object_id, "start": i.start, "end": i.end}
                  for i in inj]).to_csv(labels, index=False)
    out = tmp_path / "metrics.json"
    assert main(["evaluate", "--model", str(trained), "--data", str(data), "--labels",
                 str(labels), "--baselines", "--output", str(out)]) == 0
    metrics = json.loads(out.read_text())["methods"]
    assert set(metrics) == {"lcad", "isolation_forest", "pca", "matrix_profile"}
    assert metrics["lcad"]["roc_auc"] > 0.7
    assert 0 <= metrics["lcad"]["event_recall"] <= 1
    assert 0 < metrics["lcad"]["mean_pr_auc"] <= 1  # the mean over the four labelled curves
    assert 0 < metrics["lcad"]["mean_vus_pr"] <= 1  # range-aware, same curves
    assert 0 < metrics["pca"]["mean_vus_pr"] <= 1
    # the intervals lcad reports, against the labelled flares (the baselines report none)
    assert 0 < metrics["lcad"]["interval_found"] <= 1
    assert 0 < metrics["lcad"]["interval_coverage"] <= 1
    assert 0 < metrics["lcad"]["interval_precision"] <= 1
    assert "interval_found" not in metrics["pca"]
    # printed a metric a row, a method a column
    table = capsys.readouterr().out.split("\nmetric ", 1)[1].splitlines()
    assert table[0].split() == ["lcad", "isolation_forest", "pca", "matrix_profile"]
    row = next(line.split() for line in table if line.startswith("interval_found "))
    assert float(row[1]) == pytest.approx(metrics["lcad"]["interval_found"], abs=1e-4)
    assert row[2:] == ["-", "-", "-"]


def test_evaluate_reads_nab_label_files_and_datetime_labels(trained, synth_csv, tmp_path,
                                                            capsys):
    """A NAB file (timestamp,value) evaluates against NAB's own combined_windows.json, and
    against a labels CSV with datetimes, as against the same labels in days, and as against
    a labels CSV of the one series' windows without an object id column."""
    from lcad.models.synthetic import inject, synthetic_dataset

    curve = synthetic_dataset(1, seed=12, **SYNTH)[0][0]
    event = inject(curve, "flare", np.random.default_rng(1), amplitude=6)
    stamp = pd.Timestamp("2015-03-01")
    def ts(days):
        return (stamp + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d %H:%M:%S.%f")
    data = tmp_path / "machine_1.csv"
    pd.DataFrame({"timestamp": [ts(t) for t in curve.time], "value": curve.flux}).to_csv(
        data, index=False)
    nab = tmp_path / "combined_windows.json"
    nab.write_text(json.dumps({"realSomething/machine_1.csv": [[ts(event.start),
                                                                ts(event.end)]],
                               "realSomething/other.csv": []}))
    dated = tmp_path / "dated.csv"
    dated.write_text(f"object_id,start,end\nmachine_1,{ts(event.start)},{ts(event.end)}\n")
    epoch = (stamp - pd.Timestamp(0)) / pd.Timedelta(days=1)
    in_days = tmp_path / "days.csv"
    pd.DataFrame({"object_id": ["machine_1"], "start": [epoch + event.start],
                  "end": [epoch + event.end]}).to_csv(in_days, index=False)
    one_series = tmp_path / "windows.csv"  # one series' windows: no object id column
    one_series.write_text(f"start,end\n{ts(event.start)},{ts(event.end)}\n")
    found = []
    for labels in (nab, dated, in_days, one_series):
        out = tmp_path / f"{labels.stem}.json"
        assert main(["evaluate", "--model", str(trained), "--data", str(data), "--labels",
                     str(labels), "--output", str(out), "--no-tracking"]) == 0, \
            capsys.readouterr().err
        found.append(json.loads(out.read_text())["methods"]["lcad"])
    assert found[0] == found[1] == found[2] == found[3]
    assert found[0]["event_recall"] == 1.0 and found[0]["roc_auc"] > 0.9
    # id-less labels on data of several objects: which one is meant cannot be told
    assert main(["evaluate", "--model", str(trained), "--data", str(synth_csv), "--labels",
                 str(one_series), "--no-tracking"]) == 2
    assert "windows.csv: no object id column, and the data holds 12 objects" in \
        capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    for content, problem in [("object_id,start,end\nmachine_1,yesterday,2015-03-02\n",
                              "neither numeric nor datetimes"),
                             ("object_id,start,end\nmachine_1,,2015-03-02\n",
                              "is empty in label 1")]:
        bad.write_text(content)
        assert main(["evaluate", "--model", str(trained), "--data", str(data), "--labels",
                     str(bad), "--no-tracking"]) == 2
        assert problem in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"a/b.csv": [[1, 2, 3]]}')
    assert main(["evaluate", "--model", str(trained), "--data", str(data), "--labels",
                 str(bad), "--no-tracking"]) == 2
    assert "expected NAB's labels" in capsys.readouterr().err


def test_sweep_records_the_best_child(synth_csv, tmp_path, monkeypatch, capsys):
    import mlflow
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        f"data: {synth_csv}\nexperiment: sw\nmetric: best_val_loss\n"
        "base: {preprocess: {window: 32}, model: {hidden: [16]}, train: {epochs: 2}}\n"
        "parameters:\n  model.latent: [2, 4]\n  train.learning_rate: [0.001, 0.01]\n")
    assert main(["sweep", "--config", str(spec), "--trials", "3"]) == 0
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns.db'}")
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("sw").experiment_id])
    parent = next(r for r in runs if "best_run_id" in r.data.tags)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 3
    # each trial says what its "auto" settings became, as a plain `lcad train` run does
    assert all(r.data.tags["lcad.point_score"] in ("scan", "novelty") for r in children)
    best = min(children, key=lambda r: r.data.metrics["best_val_loss"])
    assert parent.data.tags["best_run_id"] == best.info.run_id
    assert parent.data.metrics["best_best_val_loss"] == pytest.approx(
        best.data.metrics["best_val_loss"])
    out = capsys.readouterr().out
    assert "best trial" in out
    assert out.count("trial 1/3: best_val_loss=") == 1 and "trial 3/3:" in out  # progress
    # each trial has the run's detection metric and what "auto" resolved to
    assert all("injected.pr_auc" in r.data.metrics for r in children)
    assert all(float(r.data.params["resolved.cadence"]) > 0 for r in children)


def test_the_readme_sweep_file_is_the_shipped_example_and_runs(tmp_path, monkeypatch, capsys):
    import mlflow
    from mlflow.tracking import MlflowClient

    root = Path(__file__).parents[2]
    example = root / "examples" / "sweep.yaml"
    readme = (root / "README.md").read_text()
    shown = readme.split("**Sweep YAML**", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    assert shown == example.read_text()  # the documented format is the file that runs
    # run it as shipped, but for one short trial (the fields are what the README says)
    spec = tmp_path / "sweep.yaml"
    spec.write_text(example.read_text().replace("epochs: 5", "epochs: 2").replace(
        "../training/data/kepler_demo.csv", str(root / "training/data/kepler_demo.csv")))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["sweep", "--config", str(spec), "--trials", "1"]) == 0
    assert "best trial: run" in capsys.readouterr().out
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns.db'}")
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("lcad-sweep").experiment_id])
    parent = next(r for r in runs if "best_run_id" in r.data.tags)
    assert 0 <= parent.data.metrics["best_injected.pr_auc"] <= 1


def shortened_example(tmp_path: Path, name: str, heading: str,
                      shorter: dict[str, str]) -> Path:
    """examples/NAME, checked to be the YAML block the README shows after `heading`, written
    to tmp_path with the `shorter` replacements and its data path made absolute."""
    root = Path(__file__).parents[2]
    text = (root / "examples" / name).read_text()
    readme = (root / "README.md").read_text()
    assert readme.split(heading, 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0] == text
    for old, new in {**shorter, "../training/data/kepler_demo.csv":
                     str(root / "training/data/kepler_demo.csv")}.items():
        text = text.replace(old, new)
    spec = tmp_path / "sweep.yaml"
    spec.write_text(text)
    return spec


def test_the_coarse_to_fine_example_runs_and_registers_the_best_model(tmp_path, monkeypatch,
                                                                     capsys):
    """The shipped coarse-to-fine file (shown in the README), shortened to 2 coarse + 2 fine
    trials of 2 epochs: stages tagged, fine trials inside the narrowed ranges, the best
    model saved, logged to the parent run and registered."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from lcad.training.sweep import Range

    spec = shortened_example(tmp_path, "sweep_coarse_to_fine.yaml", "**Coarse-to-fine**", {
        "epochs: 5": "epochs: 2", "fine_trials: 6": "fine_trials: 2",
        "window: 64": "window: 32"})
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["sweep", "--config", str(spec), "--trials", "2", "--promote",
                 "--output", str(tmp_path / "best")]) == 0
    out = capsys.readouterr().out
    assert "trial 1/4:" in out and "[coarse]" in out and "trial 4/4:" in out
    assert "fine stage around the best coarse trial: train.learning_rate [" in out
    assert "registered lcad-swept version 1" in out
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns.db'}")
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("lcad-sweep").experiment_id])
    parent = next(r for r in runs if "best_run_id" in r.data.tags)
    children = {r.info.run_id: r for r in runs
                if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    stages = sorted(r.data.tags["sweep.stage"] for r in children.values())
    assert stages == ["coarse", "coarse", "fine", "fine"]
    best = children[parent.data.tags["best_run_id"]]
    assert parent.data.metrics["best_injected.pr_auc"] == pytest.approx(
        max(r.data.metrics["injected.pr_auc"] for r in children.values()))
    coarse_best = max((r for r in children.values() if r.data.tags["sweep.stage"] == "coarse"),
                      key=lambda r: r.data.metrics["injected.pr_auc"])
    for r in children.values():  # fine trials: the best coarse variant, lr in the fine range
        if r.data.tags["sweep.stage"] == "fine":
            assert r.data.params["model.variant"] == coarse_best.data.params["model.variant"]
            lo, hi = parent.data.params["fine.train.learning_rate"].split("]")[0][1:].split(",")
            assert float(lo) <= float(r.data.params["train.learning_rate"]) <= float(hi)
            assert Range(low=float(lo), high=float(hi)).high / float(lo) < 100 ** 0.25 + 1e-6
    mv = client.get_model_version_by_alias("lcad-swept", "champion")
    assert str(mv.version) == "1" and mv.run_id == parent.info.run_id
    assert Detector.load(tmp_path / "best").config.model.variant == \
        best.data.params["model.variant"]


def test_the_tpe_example_prunes_trials_worse_than_the_median(tmp_path, monkeypatch, capsys):
    """The shipped TPE file (shown in the README), 6 trials of 4 epochs, 2 random ones
    first: Optuna proposes the rest; a trial whose validation loss falls behind the median is
    stopped, tagged and never the best; the best of the others saved and registered."""
    import mlflow
    from mlflow.tracking import MlflowClient

    spec = shortened_example(tmp_path, "sweep_tpe.yaml", "**TPE with pruning**", {
        "epochs: 10": "epochs: 4", "window: 64": "window: 32",
        "startup_trials: 4": "startup_trials: 2", "pruning_warmup: 2": "pruning_warmup: 1"})
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["sweep", "--config", str(spec), "--trials", "6",
                 "--output", str(tmp_path / "best")]) == 0
    out = capsys.readouterr().out
    assert "trial 6/6:" in out and "registered lcad-swept version 1" in out
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns.db'}")
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("lcad-sweep").experiment_id])
    parent = next(r for r in runs if "best_run_id" in r.data.tags)
    assert parent.data.params["sweep.method"] == "tpe"
    assert parent.data.params["sweep.pruner"] == "median"
    children = {r.info.run_id: r for r in runs
                if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert len(children) == 6 and {r.data.tags["sweep.stage"] for r in children.values()} \
        == {"tpe"}
    pruned = [r for r in children.values() if r.data.tags.get("sweep.pruned") == "true"]
    kept = [r for r in children.values() if r not in pruned]
    assert pruned, out  # some proposals fall behind the median at epoch 2
    assert out.count("pruned at epoch") == len(pruned)
    for r in pruned:
        assert 2 <= r.data.metrics["pruned_at_epoch"] < 4
        assert "injected.pr_auc" not in r.data.metrics  # stopped: never checked nor best
    assert len(kept) >= 2 and parent.data.tags["best_run_id"] in {r.info.run_id for r in kept}
    assert parent.data.metrics["best_best_val_loss"] == pytest.approx(
        min(r.data.metrics["best_val_loss"] for r in kept))
    assert Detector.load(tmp_path / "best").config.model.variant == "plain"


def test_finetune_starts_from_a_registered_model_and_records_its_lineage(
        synth_csv, tmp_path, monkeypatch, capsys):
    """`lcad finetune --from models:/parent@candidate`: the encoder kept (frozen), the
    decoder trained on the new curves, recalibrated on them; the parent's name, version and
    run as tags of the new run and of the new model version."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from lcad.models.synthetic import synthetic_dataset, to_frame

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["train", "--data", str(synth_csv), "--output", str(tmp_path / "parent"),
                 "--register-as", "parent", *SMALL_TRAIN]) == 0
    new, _ = synthetic_dataset(8, seed=9, n_points=800, kinds=("eclipsing",),
                               period_range=(0.5, 0.7))
    data = tmp_path / "new.csv"
    to_frame(new).drop(columns=["band"]).to_csv(data, index=False)
    capsys.readouterr()
    assert main(["finetune", "--from", "models:/parent@candidate", "--data", str(data),
                 "--epochs", "2", "--output", str(tmp_path / "child"), "--encoder", "frozen",
                 "--register-as", "child"]) == 0
    out = capsys.readouterr().out
    assert "fine-tuning models:/parent@candidate (frozen encoder): name parent, version 1" in out
    parent, child = Detector.load(tmp_path / "parent"), Detector.load(tmp_path / "child")
    for a, b in zip(parent.model.get_layer("encoder").get_weights(),
                    child.model.get_layer("encoder").get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # frozen
    assert any(not np.array_equal(a, b) for a, b in zip(
        parent.model.get_layer("decoder").get_weights(),
        child.model.get_layer("decoder").get_weights(), strict=True))  # trained
    assert child.threshold != parent.threshold  # calibrated on the new curves
    assert len(child.info.history) == 2
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns.db'}")
    client = MlflowClient()
    pv = client.get_model_version_by_alias("parent", "candidate")
    cv = client.get_model_version_by_alias("child", "candidate")
    run = client.get_run(cv.run_id)
    for tags in (run.data.tags, cv.tags):
        assert tags["lcad.parent.name"] == "parent"
        assert tags["lcad.parent.version"] == str(pv.version)
        assert tags["lcad.parent.run_id"] == pv.run_id
        assert tags["lcad.parent.encoder"] == "frozen"
    # curves of other bands cannot reuse the network; the shape is the parent's
    two_bands = tmp_path / "two.csv"
    frame = to_frame(new)
    frame["band"] = np.where(np.arange(len(frame)) % 2, "g", "r")
    frame.to_csv(two_bands, index=False)
    # --model, as score and evaluate name it, is --from
    assert main(["finetune", "--model", str(tmp_path / "parent"), "--data", str(two_bands),
                 "--no-tracking", "--output", str(tmp_path / "x")]) == 2
    assert "fine-tune on curves with the parent model's bands" in capsys.readouterr().err
    assert main(["finetune", "--from", str(tmp_path / "parent"), "--data", str(data),
                 "--no-tracking", "--set", "model.latent=8"]) == 2
    assert "only train.* and scoring.* keys can change" in capsys.readouterr().err


def test_finetune_keeps_the_parents_choice_of_point_score(kepler_bundle, tmp_path, capsys):
    """A few days of a new star with red noise look structured; the fine-tuned model keeps
    the scan its Kepler parent chose (bench.transfer: re-choosing on a tenth of a star fell
    from PR-AUC 0.44 to 0.14), says so and notes the residuals; `--set scoring.point=auto`
    chooses again on the new data."""
    from tests.conftest import shared_data

    parent, bundle = kepler_bundle
    assert parent.point_method == "scan"
    frame = pd.read_csv(shared_data("kepler", "Kepler3231341.csv")).iloc[:1500]
    rng = np.random.default_rng(0)
    red = np.zeros(len(frame))
    for i in range(1, len(red)):  # AR(1), lag-1 correlation 0.8, twice the flux's spread
        red[i] = 0.8 * red[i - 1] + rng.normal()
    flux = frame.flux.to_numpy()
    data = tmp_path / "new.csv"
    pd.DataFrame({"time": frame.time, "flux": flux + 2 * np.std(flux) * red / np.std(red)}
                 ).to_csv(data, index=False)
    args = ["finetune", "--from", str(bundle), "--data", str(data), "--no-tracking",
            "--epochs", "2"]
    assert main([*args, "--output", str(tmp_path / "kept")]) == 0
    out, err = capsys.readouterr()
    assert "point score: scan, as the parent chose it" in out
    assert "point score: the residual scan (the reconstruction's residuals tested against the " \
        "held-out ones) (scoring.point=scan, what --look-for events sets)" in out
    assert "note: the new data's held-out residuals are not white" in err
    kept = Detector.load(tmp_path / "kept")
    assert kept.point_method == "scan" and kept.config.scoring.point == "scan"
    assert main([*args, "--output", str(tmp_path / "again"), "--set",
                 "scoring.point=auto"]) == 0
    out, err = capsys.readouterr()
    assert "as the parent chose it" not in out and "not white" not in err
    # chosen again: novelty, with the measure and the key for events added to the series
    assert re.search(r"point score: novelty \(each window's distance to the nearest training "
                     r"windows\), chosen by scoring.point=auto \(the held-out residuals are "
                     r"structured: lag-1 \+0\.\d\d, beyond \+-0\.1\); .* --look-for "
                     r"events \(scoring.point=scan\) tests the residuals instead", out), out
    again = Detector.load(tmp_path / "again")
    assert again.config.scoring.point == "auto" and again.point_method == "novelty"
    # what the user looks for, said in words: shapes that changed are novelty's
    assert main([*args, "--output", str(tmp_path / "shapes"), "--look-for", "shapes"]) == 0
    assert "(scoring.point=novelty, what --look-for shapes sets)" in capsys.readouterr().out
    assert Detector.load(tmp_path / "shapes").point_method == "novelty"


def test_look_for_names_the_point_score_and_refuses_a_contradiction(tmp_path, capsys):
    """`lcad train --look-for events|shapes` trains with the point score that finds them
    (the scan, novelty); with a --set scoring.point that says otherwise, it stops before
    any work and says to keep one."""
    data = tmp_path / "cycle.csv"
    data.write_text("time,flux\n" + "".join(f"{t},{np.sin(t / 7)}\n" for t in range(600)))
    base = ["train", "--data", str(data), "--no-tracking", "--set", "train.epochs=2"]
    for look, method in (("events", "scan"), ("shapes", "novelty")):
        assert main([*base, "--output", str(tmp_path / look), "--look-for", look]) == 0
        assert f"(scoring.point={method}, what --look-for {look} sets)" in \
            capsys.readouterr().out
        det = Detector.load(tmp_path / look)
        assert det.point_method == method and det.config.scoring.point == method
    assert main([*base, "--output", str(tmp_path / "both"), "--look-for", "events",
                 "--set", "scoring.point=novelty"]) == 2
    err = capsys.readouterr().err
    assert "--look-for events means scoring.point=scan, but --set scoring.point=novelty " \
        "was given too: keep one of them" in err, err
    assert not (tmp_path / "both").exists()


def test_look_for_words_agree_with_the_point_score_reason():
    from lcad.cli import LOOK_FOR
    from lcad.models.point_scores import LOOK_FOR_WORDS, POINT_SCORERS

    assert {point: look for look, point in LOOK_FOR.items() if look != "auto"} == \
        LOOK_FOR_WORDS
    assert set(LOOK_FOR_WORDS) <= set(POINT_SCORERS)


def test_look_for_on_survey_curves_says_the_objects_are_ranked_as_before(tmp_path, capsys):
    """Whole survey curves are ranked by the object model, whatever point score ranks the
    points inside each: `--look-for` there says so rather than seem to change the ranking."""
    from tests.conftest import shared_data

    frame = pd.read_csv(shared_data("rrlyrae", "stripe82_rrlyrae.csv"))
    data = tmp_path / "rr.csv"
    frame[frame.object_id.isin(frame.object_id.unique()[:80])].to_csv(data, index=False)
    assert main(["train", "--data", str(data), "--output", str(tmp_path / "rr"),
                 "--no-tracking", "--set", "train.epochs=2", "--look-for", "events"]) == 0
    out = capsys.readouterr().out
    assert "representation: whole curves" in out
    assert "note: --look-for events sets the point score inside each curve; whole survey " \
        "curves are ranked by the object model (their light-curve features) either way" in out
    # fine-tuning says the same
    assert main(["finetune", "--from", str(tmp_path / "rr"), "--data", str(data), "--output",
                 str(tmp_path / "rr2"), "--no-tracking", "--epochs", "1", "--look-for",
                 "shapes"]) == 0
    assert "note: --look-for shapes sets the point score inside each curve" in \
        capsys.readouterr().out


def test_a_calibration_part_shorter_than_a_window_falls_back_and_says_so(tmp_path, capsys):
    # long enough to train on, but its last 15% (60 points) is shorter than one window of 64:
    # calibrated on the held-out 30% (120 points) instead, with one warning line
    data = tmp_path / "short.csv"
    data.write_text("time,flux\n" + "".join(f"{t},{np.sin(t / 7)}\n" for t in range(400)))
    code = main(["train", "--data", str(data), "--output", str(tmp_path / "b"),
                 "--no-tracking", "--set", "train.epochs=2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "autoencoder: held-out reconstruction R^2" in out + err  # what the network learned
    assert ("warning: the last 15% of each series has no usable window of 64 grid points: "
            "calibrated on the held-out 30%") in err
    # the validation part holds no window either: the run says so rather than print "nan"
    assert "validation false-alarm rate not measured (no validation window" in out
    assert not re.search(r"\bnan\b", out)
    assert (tmp_path / "b").is_dir()


def test_a_series_too_short_for_novelty_falls_back_to_the_scan_and_says_so(tmp_path, capsys):
    # 120 points of a random walk: the held-out residuals are not white, so `auto` picks
    # novelty, but its self-join skips overlapping windows and no two windows of 64 are
    # apart; once a traceback ("no finite calibration scores"), now the scan with a warning,
    # and a clear exit 2 when novelty is asked for
    data = tmp_path / "walk.csv"
    walk = np.cumsum(np.random.default_rng(0).normal(size=120))
    data.write_text("time,flux\n" + "".join(f"{t},{v}\n" for t, v in enumerate(walk)))
    args = ["train", "--data", str(data), "--no-tracking", "--set", "train.epochs=2"]
    assert main([*args, "--output", str(tmp_path / "auto")]) == 0
    out, err = capsys.readouterr()
    assert ("`auto` chose novelty (the held-out residuals are not white), but novelty compares "
            "each training window with the ones that do not overlap it") in err
    assert "give series of at least 128 grid points" in err
    assert re.search(r"point score: the residual scan .*: scoring.point=auto chose novelty "
                     r"\(lag-1 \+0\.\d\d, beyond \+-0\.1\), which could not compare windows",
                     out), out
    assert Detector.load(tmp_path / "auto").point_method == "scan"
    assert main([*args, "--output", str(tmp_path / "novelty"), "--set",
                 "scoring.point=novelty"]) == 2
    out, err = capsys.readouterr()
    assert "no two windows of 64 apart: give series of at least 128 grid points" in err
    assert "Traceback" not in out + err
    assert not (tmp_path / "novelty").exists()


def test_a_directory_with_a_catalogue_beside_the_curves_says_to_give_the_file(
        synth_csv, tmp_path, capsys):
    """The shared RR Lyrae directory holds the light curves and a table of periods: --data
    at the directory reads both, and the periods have no time column. The error names the
    file, and says that a directory's tables are all read as light curves."""
    folder = tmp_path / "survey"
    folder.mkdir()
    (folder / "curves.csv").write_text(synth_csv.read_text())
    (folder / "periods.csv").write_text("Num,Type,Per\n1,ab,0.55\n")
    code = main(["train", "--data", str(folder), "--output", str(tmp_path / "b"),
                 "--no-tracking"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "periods.csv: no time column" in err
    assert f"{folder} is a directory: every table in it (2 files) is read as light curves; " \
        "give the light-curve file itself" in err, err
    assert not (tmp_path / "b").exists()
    # the file itself trains
    assert main(["train", "--data", str(folder / "curves.csv"), "--output",
                 str(tmp_path / "b"), "--no-tracking", "--set", "train.epochs=1"]) == 0


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ("", [], "the file is empty"),
        ("a,b\n1,2\n", [], "no time column"),
        (None, ["--set", "model.hiddn=[3]"], "unknown config key 'model.hiddn'"),
        (None, ["--set", "train.learning_rate=1e8"], "training diverged in its first epoch"),
        ("object_id,time,flux\n" + "".join(f"{o},{t},{t % 3}\n" for o in "ab"
                                            for t in range(20)), [],
         "every training series is too short or too sparse for window 64 at cadence 1 (the "
         "longest training part covers 14 grid points: give longer series or a --window of "
         "at most 14)"),
        ("object_id,time,flux\n" + "".join(f"{o},{t ** 3},{t % 3}\n" for o in "ab"
                                            for t in range(20)),
         ["--set", "preprocess.mode=whole"],
         "too sparse for whole-curve mode with window 64: fewer than 50% of the 64 grid"),
    ],
)
def test_train_bad_input_exits_2(synth_csv, tmp_path, capsys, content, extra, message):
    data = synth_csv
    if content is not None:
        data = tmp_path / "bad.csv"
        data.write_text(content)
    code = main(["train", "--data", str(data), "--output", str(tmp_path / "b"),
                 "--no-tracking", *extra])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_labels_that_match_nothing_exit_2(trained, synth_csv, tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    labels.write_text("object_id,start,end\nnobody,1,2\n")
    assert main(["evaluate", "--model", str(trained), "--data", str(synth_csv),
                 "--labels", str(labels)]) == 2
    assert "none of them among the 12 scored" in capsys.readouterr().err


def test_unknown_model_and_bad_output_exit_2(synth_csv, tmp_path, capsys):
    assert main(["score", "--model", str(tmp_path / "nope"), "--data", str(synth_csv),
                 "--output", str(tmp_path / "s.csv")]) == 2
    assert "bundle not found" in capsys.readouterr().err
    assert main(["score", "--model", "x", "--data", str(synth_csv),
                 "--output", str(tmp_path / "s.txt")]) == 2
    assert ".csv or .parquet" in capsys.readouterr().err


def test_help_on_every_command(capsys):
    for cmd in ("train", "score", "evaluate", "sweep", "demo", "serve"):
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0
    assert "--register-as" in capsys.readouterr().out


def test_long_series_are_scored_in_segments_like_one_pass(trained, tmp_path):
    from lcad.training.scoring import score_to_file

    det = Detector.load(trained)
    rng = np.random.default_rng(4)
    t = np.arange(5000) * 0.02
    flux = 10 + np.sin(2 * np.pi * t / 0.6) + rng.normal(0, 0.05, t.size)
    flux[2500:2520] += 3.0
    c = LightCurve.from_arrays("long", t, flux, np.full(t.size, 0.05))
    data = tmp_path / "long.csv"
    pd.DataFrame({"object_id": "long", "time": t, "flux": flux, "flux_err": 0.05}).to_csv(
        data, index=False)
    one = tmp_path / "one.csv"
    seg = tmp_path / "seg.csv"
    score_to_file(det, data, one)
    summary = score_to_file(det, data, seg, segment_points=1000)
    a, b = pd.read_csv(one), pd.read_csv(seg)
    assert len(a) == len(b) == 5000 and (a["time"] == b["time"]).all()
    assert np.corrcoef(a["score"], b["score"])[0, 1] > 0.99
    assert (a["is_anomaly"] == b["is_anomaly"]).mean() > 0.99
    assert b.loc[2500:2519, "is_anomaly"].any()
    assert summary["n_objects"] == 1 and summary["n_points"] == 5000
    objs = pd.read_csv(tmp_path / "seg.objects.csv")
    assert bool(objs.loc[0, "is_anomalous"]) and c.object_id == objs.loc[0, "object_id"]
    # the flagged intervals beside them: one row each, the bump's among them, whole or not
    for name in ("one", "seg"):
        iv = pd.read_csv(tmp_path / f"{name}.intervals.csv")
        assert list(iv.columns) == ["object_id", "start", "end", "peak_time", "peak_score",
                                    "p_value", "sign", "n_points"]
        assert len(iv) == pd.read_csv(tmp_path / f"{name}.objects.csv")["n_intervals"].sum()
        bump = iv[(iv["start"] <= t[2519]) & (iv["end"] >= t[2500])]
        assert len(bump) >= 1 and (bump["sign"] == "brightening").all()
        assert (iv["p_value"].between(0, 1)).all() and (iv["start"] <= iv["end"]).all()
    assert summary["intervals_file"] == str(tmp_path / "seg.intervals.csv")


@pytest.mark.parametrize("dip", [False, True])
def test_object_verdict_does_not_depend_on_segment_points(trained, tmp_path, dip):
    """One pass and several segment sizes: the same object score, p-value and verdict."""
    from lcad.training.scoring import score_to_file

    det = Detector.load(trained)
    rng = np.random.default_rng(6)
    t = np.arange(4000) * 0.02
    t = np.delete(t, np.arange(1500, 1560))  # a gap, so segments do not start on the grid
    flux = 10 + np.sin(2 * np.pi * t / 0.6) + rng.normal(0, 0.05, t.size)
    if dip:
        flux[2200:2230] -= 5.0
    data = tmp_path / "long.csv"
    pd.DataFrame({"object_id": "long", "time": t, "flux": flux}).to_csv(data, index=False)
    rows, points = [], []
    for size in (10**6, 2333, 1000, 700):
        out = tmp_path / f"s{size}.csv"
        score_to_file(det, data, out, segment_points=size, workers=2)
        rows.append(pd.read_csv(tmp_path / f"s{size}.objects.csv").iloc[0])
        points.append(pd.read_csv(out))
    one = rows[0]
    assert bool(one["is_anomalous"]) is dip
    for row, pts in zip(rows[1:], points[1:], strict=True):
        assert row["score"] == pytest.approx(one["score"], rel=1e-5)
        assert row["p_value"] == pytest.approx(one["p_value"], rel=1e-4, abs=1e-9)
        assert bool(row["is_anomalous"]) == bool(one["is_anomalous"])
        assert row["n_points"] == one["n_points"]
        assert (pts["time"] == points[0]["time"]).all()
        assert np.corrcoef(pts["score"], points[0]["score"])[0, 1] > 0.99


def test_a_large_parquet_file_scored_a_piece_at_a_time_writes_what_a_whole_read_writes(
        trained, synth_csv, tmp_path, monkeypatch):
    """A Parquet file larger than a piece (io.PIECE_ROWS) is read a piece at a time, the next
    piece read while this one is scored, in one process or with two scoring processes: the
    same rows, in the same order, as the same objects read whole from CSV."""
    from lcad.models import io

    table = pd.read_csv(synth_csv)
    csv, parquet = tmp_path / "data.csv", tmp_path / "data.parquet"
    table.to_csv(csv, index=False)
    table.to_parquet(parquet, index=False)
    sizes = table.groupby("object_id", sort=False).size()
    monkeypatch.setattr(io, "PIECE_ROWS", int(sizes.max()) * 3)
    assert len(list(io.iter_curves(parquet))) >= 3
    outs = []
    for name, data, flags in (("whole", csv, []), ("pieces", parquet, []),
                              ("pieces-p2", parquet, ["--processes", "2"])):
        out = tmp_path / f"{name}.parquet"
        assert main(["score", "--model", str(trained), "--data", str(data), "--output",
                     str(out), "--batch-objects", "2", *flags]) == 0
        outs.append((pd.read_parquet(out), pd.read_parquet(objects_path(out))))
    (pw, ow), *streamed = outs
    assert ow["object_id"].astype(str).tolist() == sizes.index.tolist()
    for points, objects in streamed:
        pd.testing.assert_frame_equal(points, pw)
        pd.testing.assert_frame_equal(objects, ow)


def test_scoring_in_parallel_writes_what_one_at_a_time_writes(trained, synth_csv, tmp_path,
                                                               capsys):
    """Segments of a long curve and groups of short ones, several at once (threads, or two
    scoring processes that each load the model): same rows, same order, same values as one
    at a time (CLI, Parquet)."""
    rng = np.random.default_rng(5)
    t = np.arange(6000) * 0.02
    long = pd.DataFrame({"object_id": "long", "time": t,
                         "flux": 10 + np.sin(2 * np.pi * t / 0.6) + rng.normal(0, 0.05, t.size),
                         "flux_err": 0.05})
    short = pd.read_csv(synth_csv)
    short["flux_err"] = 0.05
    data = tmp_path / "mixed.csv"
    pd.concat([short, long], ignore_index=True).to_csv(data, index=False)
    outs = []
    for name, flags in (("w1", ["--workers", "1"]), ("w3", ["--workers", "3"]),
                        ("p2", ["--processes", "2"])):
        out = tmp_path / f"{name}.parquet"
        assert main(["score", "--model", str(trained), "--data", str(data), "--output",
                     str(out), "--batch-objects", "3", "--segment-points", "1000",
                     *flags]) == 0
        outs.append((pd.read_parquet(out), pd.read_parquet(tmp_path / f"{name}.objects"
                                                            ".parquet"),
                     pd.read_parquet(tmp_path / f"{name}.intervals.parquet")))
    (p1, o1, i1), (p3, o3, i3), (pp, op, ip) = outs
    assert len(i1) == o1["n_intervals"].sum()
    pd.testing.assert_frame_equal(i1, i3)
    pd.testing.assert_frame_equal(i1, ip)
    assert len(p1) == len(short) + len(long) and len(o1) == 13
    pd.testing.assert_frame_equal(p1, p3)
    pd.testing.assert_frame_equal(o1, o3)
    pd.testing.assert_frame_equal(p1, pp)
    pd.testing.assert_frame_equal(o1, op)
    assert p1["object_id"].astype(str).tolist() == \
        ["long"] * len(long) + short["object_id"].tolist()  # long curves go first
    with pytest.raises(SystemExit) as exc:
        main(["score", "--model", str(trained), "--data", str(data), "--output",
              str(tmp_path / "x.csv"), "--workers", "0"])
    assert exc.value.code == 2
    assert "--workers: 0 is below the minimum, 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["score", "--model", str(trained), "--data", str(data), "--output",
              str(tmp_path / "x.csv"), "--processes", "0"])
    assert exc.value.code == 2
    assert "--processes: 0 is below the minimum, 1" in capsys.readouterr().err


def test_log_run_of_an_untracked_bundle_makes_a_new_run(tiny_bundle, tmp_path, monkeypatch,
                                                        capsys):
    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{tmp_path / 'mlruns.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    assert main(["log-run", str(tiny_bundle), "--experiment", "later",
                 "--register-as", "tiny-later"]) == 0
    out = capsys.readouterr().out
    assert "(created)" in out and "model logged" in out
    client = MlflowClient(tracking_uri=store)
    (run,) = client.search_runs([client.get_experiment_by_name("later").experiment_id])
    assert run.data.tags["lcad.logged_from_bundle"] == "true"
    assert run.data.params["preprocess.window"] == "32"
    assert run.data.metrics["threshold"] == pytest.approx(
        Detector.load(tiny_bundle).metrics["threshold"])
    assert client.get_model_version_by_alias("tiny-later", "candidate").run_id == \
        run.info.run_id
    assert main(["log-run", str(tmp_path / "nope")]) == 2
    assert "bundle not found" in capsys.readouterr().err


@pytest.mark.slow
def test_survey_curves_train_and_score_with_the_defaults(tmp_path, capsys, monkeypatch):
    """SDSS Stripe 82 RR Lyrae (sparse, five bands, sentinels): no flags needed; the run says
    which representation it chose; unscored objects are counted, not hidden. A large enough
    file is scored in one process a core by default, and says so: the same tables."""
    from tests.conftest import shared_data

    data = shared_data("rrlyrae", "stripe82_rrlyrae.csv")
    bundle = tmp_path / "rr"
    assert main(["train", "--data", str(data), "--output", str(bundle), "--no-tracking",
                 "--set", "train.epochs=3"]) == 0
    out = capsys.readouterr()
    assert "representation: whole curves: each object resampled onto" in out.out
    assert "light-curve features (periods on) through an autoencoder, then an Isolation " \
        "Forest and the nearest training objects at K = 20, 40, 80 (the most outlying)" \
        in out.out
    assert "object model: 54 features of " in out.out and "held-out reconstruction R^2" \
        in out.out
    assert "sentinel or non-physical magnitude" in out.err + out.out
    det = Detector.load(bundle)
    assert det.config.preprocess.mode == "whole" and det.metrics["grid_coverage"] < 0.5
    # the resampled curves' network learns little; the run says the object score does not
    # rest on it instead of asking for a longer window
    verdict = det.info.autoencoder["verdict"]
    assert det.info.autoencoder["status"] != "learned" and "--window" not in verdict
    assert "the object score rests on the object model, not on this network" in verdict
    assert verdict in out.err
    scores = tmp_path / "s.csv"
    assert main(["score", "--model", str(bundle), "--data", str(data), "--output",
                 str(scores)]) == 0
    out = capsys.readouterr()
    assert "processes" not in out.out  # 241 objects: one process
    objects = pd.read_csv(tmp_path / "s.objects.csv")
    n_nan = int(objects["score"].isna().sum())
    assert len(objects) == 241 and n_nan == 0  # was 140 of 241 with --window 32
    assert objects["p_value"].between(0, 1).all()
    import os

    from lcad.training import scoring

    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(scoring, "AUTO_PROCESS_ROWS", 1000)  # the file: ~13,000 rows
    assert main(["score", "--model", str(bundle), "--data", str(data), "--output",
                 str(tmp_path / "p.csv")]) == 0
    out = capsys.readouterr().out
    if cores > 1:
        assert f"scoring in {min(cores, 8)} processes, one a core: ~" in out
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "p.objects.csv"), objects)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "p.csv"), pd.read_csv(scores))
    # the same curves under ZTF's column names (ALeRCE's and IRSA's tables), no flags: the
    # same objects and scores
    ztf = tmp_path / "ztf.csv"
    pd.read_csv(data).rename(columns={"object_id": "oid", "time": "mjd", "mag": "magpsf",
                                      "magerr": "sigmapsf", "band": "fid"}).to_csv(ztf,
                                                                                   index=False)
    assert main(["score", "--model", str(bundle), "--data", str(ztf), "--output",
                 str(tmp_path / "z.csv")]) == 0
    assert "columns: object oid, time mjd, magnitude magpsf, error sigmapsf, band fid" \
        in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "z.objects.csv"), objects)


def test_input_errors_come_before_the_model_loads(tmp_path):
    """A missing file or bundle is named in seconds, not after TensorFlow's import."""
    import subprocess
    import sys

    from tests.conftest import BIN

    for args, message in (
            (["score", "--model", str(tmp_path / "nope"), "--data", str(tmp_path / "x.csv"),
              "--output", str(tmp_path / "s.csv")], "x.csv: no such file or directory"),
            (["score", "--model", str(tmp_path / "nope"), "--data", str(tmp_path),
              "--output", str(tmp_path / "s.csv")], "no .csv, .parquet or .fits files")):
        proc = subprocess.run([str(BIN / "lcad"), *args], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-500:]
    data = tmp_path / "d.csv"
    data.write_text("time,flux\n0,1\n1,2\n")
    code = ("import sys; from lcad.cli import main\n"
            f"rc = main(['score', '--model', {str(tmp_path / 'nope')!r}, '--data', "
            f"{str(data)!r}, '--output', {str(tmp_path / 's.csv')!r}])\n"
            "assert rc == 2 and 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "bundle not found" in proc.stderr


def test_the_program_keeps_tensorflow_start_up_noise_off_stderr(synth_csv, tmp_path):
    """`lcad train` as a program: lcad's own lines and warnings reach stderr, TensorFlow's
    C++ start-up lines (absl, cudart, cuInit on a CPU machine) do not; a filtered stream
    passes every other line through, in order."""
    import subprocess
    import sys

    from tests.conftest import BIN

    proc = subprocess.run(
        [str(BIN / "lcad"), "train", "--data", str(synth_csv), "--output", str(tmp_path / "b"),
         "--no-tracking", *SMALL_TRAIN, "--set", "train.epochs=1"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for noise in ("absl::InitializeLog", "cudart_stub", "cuInit", "cpu_feature_guard"):
        assert noise not in proc.stderr, proc.stderr
    assert "autoencoder: held-out reconstruction" in proc.stdout + proc.stderr
    code = ("import os\nfrom lcad._stderr import filter_stderr\nfilter_stderr()\n"
            "os.write(2, b'one\\nW0000 cpu_feature_guard.cc:1] AVX\\ntwo\\n')\n"
            "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called\\n"
            "three')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert out.returncode == 0 and out.stderr == b"one\ntwo\nthree", out.stderr


@pytest.mark.parametrize("args", [
    ["score", "--model", "m", "--data", "nope.csv", "--output", "o.csv"],
    ["score", "--model", "m", "--data", "nope.csv", "--output", "o.txt"],
    ["train", "--data", "nope.csv"],
    ["evaluate", "--model", "m", "--data", "nope.csv", "--labels", "l.csv"],
])
def test_path_and_argument_errors_come_before_the_heavy_imports(args, tmp_path):
    import subprocess
    import sys

    code = ("import sys; from lcad.cli import main; rc = main(sys.argv[1:]); "
            "heavy = sorted(m for m in ('pandas', 'keras', 'tensorflow', 'mlflow') "
            "if m in sys.modules); print(rc, heavy)")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.stdout.strip() == "2 []", (done.stdout, done.stderr)
    assert "nope.csv" in done.stderr or "o.txt" in done.stderr


def test_sweep_with_an_evaluation_set_logs_eval_metrics(synth_csv, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from lcad.models.synthetic import inject, synthetic_dataset, to_frame

    curves, _ = synthetic_dataset(4, seed=9, n_points=600)
    rng = np.random.default_rng(0)
    events = [inject(c, "flare", rng, amplitude=6) for c in curves]
    to_frame(curves).to_csv(tmp_path / "ev.csv", index=False)
    pd.DataFrame([{"object_id": e.object_id, "start": e.start, "end": e.end}
                  for e in events]).to_csv(tmp_path / "labels.csv", index=False)
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        f"data: {synth_csv}\nexperiment: swe\nmetric: eval.pr_auc\ngoal: maximize\n"
        "evaluation: {data: ev.csv, labels: labels.csv}\n"
        "base: {preprocess: {window: 32}, model: {hidden: [16]}, train: {epochs: 2}}\n"
        "parameters:\n  model.latent: [2]\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["sweep", "--config", str(spec)]) == 0
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    runs = client.search_runs([client.get_experiment_by_name("swe").experiment_id])
    (child,) = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert 0 < child.data.metrics["eval.pr_auc"] <= 1
    assert "eval.event_recall" in child.data.metrics and "injected.pr_auc" in child.data.metrics


def test_score_with_samples_adds_the_spread_and_a_deterministic_model_is_refused(
        trained, synth_csv, tmp_path, capsys):
    out = tmp_path / "scores.parquet"
    assert main(["score", "--model", str(trained), "--data", str(synth_csv),
                 "--output", str(out), "--samples", "4"]) == 0
    said = capsys.readouterr().out
    assert "uncertainty: 4 random passes of latent" in said
    points, objects = pd.read_parquet(out), pd.read_parquet(tmp_path / "scores.objects.parquet")
    plain = tmp_path / "plain.parquet"
    assert main(["score", "--model", str(trained), "--data", str(synth_csv),
                 "--output", str(plain)]) == 0
    np.testing.assert_allclose(points["score"], pd.read_parquet(plain)["score"])
    for table in (points, objects):
        assert {"score_mean", "score_std"} <= set(table.columns)
        assert (table["score_std"].dropna() >= 0).all()
        assert table["score_std"].notna().mean() > 0.9
    # the Python model MLflow serves takes the same option
    from lcad.training.mlflow_model import LcadPyfuncModel

    pyfunc = LcadPyfuncModel()
    pyfunc.detector = Detector.load(trained)
    frame = pd.read_csv(synth_csv)
    first = frame[frame["object_id"] == frame["object_id"].iloc[0]]
    got = pyfunc.predict(None, first, {"samples": 3, "output": "objects"})
    assert list(got.columns[-2:]) == ["score_mean", "score_std"] and len(got) == 1
    assert np.isfinite(got["score_std"].iloc[0])

    from tests.models.test_uncertainty import deterministic

    fixed = tmp_path / "deterministic"
    deterministic(Detector.load(trained)).save(fixed)
    assert main(["score", "--model", str(fixed), "--data", str(synth_csv),
                 "--output", str(tmp_path / "x.csv"), "--samples", "4"]) == 2
    err = capsys.readouterr().err
    assert "no dropout and is not variational" in err and "model.dropout=0.1" in err
    assert not (tmp_path / "x.csv").exists()  # refused before anything is written
    with pytest.raises(SystemExit) as exit_:
        main(["score", "--model", str(trained), "--data", str(synth_csv),
              "--output", str(tmp_path / "y.csv"), "--samples", "1"])
    assert exit_.value.code == 2 and "--samples: 1 is below the minimum" in \
        capsys.readouterr().err


@pytest.mark.parametrize("command", [["train"], ["finetune", "--from", "somewhere"]])
def test_tracked_run_flags_that_disagree_exit_2(command, synth_csv, capsys):
    base = ["--data", str(synth_csv), "--output", "unused"]
    assert main([*command, *base, "--promote"]) == 2
    assert "--promote needs --register-as NAME" in capsys.readouterr().err
    assert main([*command, *base, "--register-as", "x", "--no-tracking"]) == 2
    assert "--register-as needs tracking" in capsys.readouterr().err


def test_similar_lists_nearest_catalogue_objects(trained, synth_csv, tmp_path, capsys):
    out = tmp_path / "near.csv"
    code = main(["similar", "--model", str(trained), "--catalogue", str(synth_csv),
                 "--data", str(synth_csv), "-k", "3", "--output", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "catalogue: 12 object(s)" in printed and "latent space" in printed
    table = pd.read_csv(out)
    assert len(table) == 12 * 3 and list(table["rank"][:3]) == [1, 2, 3]
    for oid, rows in table.groupby("object_id"):
        assert oid not in set(rows["neighbour"])  # a curve of the catalogue is not its own
        assert rows["distance"].is_monotonic_increasing
    assert table["neighbour_score"].notna().all()
    # the same curve, renamed, finds itself first at distance 0
    frame = pd.read_csv(synth_csv)
    first = frame[frame.object_id == frame.object_id.iloc[0]].assign(object_id="query")
    first.to_csv(tmp_path / "q.csv", index=False)
    assert main(["similar", "--model", str(trained), "--catalogue", str(synth_csv),
                 "--data", str(tmp_path / "q.csv"), "-k", "1"]) == 0
    line = capsys.readouterr().out.splitlines()[-1].split()
    assert line[0] == "query" and line[2] == frame.object_id.iloc[0] and float(line[3]) < 1e-3


def test_similar_and_serve_name_a_missing_catalogue(trained, synth_csv, capsys, monkeypatch):
    # `serve` sets LCAD_MODEL_URI for its workers; recorded here, so put back after the test
    # (left set, the service's own tests saw a model where they start without one)
    monkeypatch.setenv("LCAD_MODEL_URI", "")
    assert main(["similar", "--model", str(trained), "--catalogue", "nope.csv",
                 "--data", str(synth_csv)]) == 2
    assert "nope.csv: no such file or directory (--catalogue)" in capsys.readouterr().err
    assert main(["serve", "--model", str(trained), "--catalogue", "nope.csv"]) == 2
    assert "(--catalogue)" in capsys.readouterr().err


def test_train_with_a_network_per_coarse_view_reports_it_and_scores(tmp_path, capsys):
    """`--set scoring.coarse_networks=true`: the view averaged over 4 grid points gets its
    own autoencoder; the CLI says what it learned, the bundle carries it, scoring uses it."""
    rng = np.random.default_rng(3)
    t = np.arange(4 * 288) / 288.0  # four days of 5-minute data
    flux = np.sin(2 * np.pi * t) + 0.3 * np.sin(6 * np.pi * t) + 0.05 * rng.normal(size=t.size)
    data = tmp_path / "daily.csv"
    pd.DataFrame({"time": t, "flux": flux}).to_csv(data, index=False)
    out = tmp_path / "views"
    code = main(["train", "--data", str(data), "--output", str(out), "--no-tracking",
                 "--set", "train.epochs=5", "--set", "scoring.point=novelty",
                 "--set", "scoring.coarse_networks=true",
                 "--set", "scoring.novelty_parts=[input, latent, error]"])
    printed, err = capsys.readouterr()
    assert code == 0, err
    assert "autoencoder of the view averaged over 4 grid points: held-out reconstruction" \
        in printed
    assert (out / "coarse_4.keras").is_file()
    det = Detector.load(out)
    assert sorted(det.coarse) == [4] and det.point_scorer.novelty.scales[0].has_network
    assert "coarse4_recon_r2" in det.metrics
    scores = tmp_path / "s.csv"
    assert main(["score", "--model", str(out), "--data", str(data), "--output",
                 str(scores)]) == 0
    assert pd.read_csv(scores)["score"].notna().mean() > 0.95


def test_the_filtered_stderr_does_not_wait_for_child_processes_that_outlive_the_program():
    """A child that inherited the filtered stderr (multiprocessing's resource tracker with
    `--processes`) keeps its pipe open: the program still ends at once, with every line it
    wrote itself (it used to wait 5 s for the pipe to close)."""
    import subprocess
    import sys
    import time

    code = ("import os, subprocess, sys\nfrom lcad._stderr import filter_stderr\n"
            "filter_stderr()\n"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(20)'])\n"
            "os.write(2, b'one\\nW0000 cpu_feature_guard.cc:1] AVX\\ntwo')\n")
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], stderr=subprocess.PIPE, timeout=60)
    assert out.returncode == 0 and out.stderr == b"one\ntwo", out.stderr
    assert time.monotonic() - start < 4


@pytest.mark.slow
def test_alert_histories_under_ztf_names_train_score_and_evaluate(tmp_path, capsys):
    """SN Ia alert histories as a broker exports them (objectId, jd, magpsf, sigmapsf, fid):
    dense on their nights but a few months long, so each curve is one object, and the run
    says why; labels under the data's own id column evaluate without renaming."""
    from bench.objects import alerts_task
    from lcad.models.lightcurve import MAG_ZERO_POINT

    curves, y = alerts_task(0)
    frame = pd.concat([pd.DataFrame({
        "objectId": c.object_id, "jd": c.time + 2459000.5,
        "magpsf": MAG_ZERO_POINT - 2.5 * np.log10(c.flux),
        "sigmapsf": 1.0857 * c.flux_err / c.flux,
        "fid": np.where(np.asarray(c.band) == "g", 1, 2)}) for c in curves])
    data, labels = tmp_path / "alerts.csv", tmp_path / "labels.csv"
    frame.to_csv(data, index=False)
    pd.DataFrame({"objectId": [c.object_id for c in curves], "label": y.astype(int)}).to_csv(
        labels, index=False)
    bundle = tmp_path / "b"
    assert main(["train", "--data", str(data), "--output", str(bundle), "--no-tracking",
                 "--set", "train.epochs=3"]) == 0
    out = capsys.readouterr().out
    assert "columns: object objectId, time jd, magnitude magpsf, error sigmapsf, band fid" in out
    assert "representation: whole curves" in out
    assert "of its cadence grid but spans fewer than 4 windows of it: each curve is one " \
        "object)" in out
    assert main(["evaluate", "--model", str(bundle), "--data", str(data), "--labels",
                 str(labels), "--no-tracking"]) == 0
    out = capsys.readouterr().out
    assert "precision_at_25" in out and "roc_auc" in out


def test_a_ucr_archive_file_trains_on_its_training_part_and_evaluates_without_labels(
        tmp_path, capsys, monkeypatch):
    """A file as the UCR anomaly archive ships it (one value a line, no header; the name gives
    the training part and the anomaly) through train, evaluate and score with the defaults:
    trained on the training part only, the distorted ECG cycle located by its top-scored
    point (the archive's rule: within 100 points), every row scored by `lcad score`."""
    from bench.quality import discord_cases

    case = discord_cases()[0]  # an ECG-like series, one cycle without its first lobe
    flux = np.concatenate([case.train.flux, case.test.flux])
    n_train = case.train.flux.size
    lo, hi = np.flatnonzero(case.truth)[[0, -1]] + n_train
    data = tmp_path / f"901_UCR_Anomaly_ecglike_{n_train}_{lo + 1}_{hi + 1}.txt"
    np.savetxt(data, flux, fmt="%.6f")
    bundle = tmp_path / "bundle"
    import lcad.training.train as train_module

    seen = []
    run = train_module.run_training
    monkeypatch.setattr(train_module, "run_training",
                        lambda req: seen.append([c.time.copy() for c in req.curves]) or run(req))
    assert main(["train", "--data", str(data), "--output", str(bundle), "--no-tracking"]) == 0
    ((trained_on,),) = seen  # the training part only: rows 0..n_train - 1
    assert trained_on.size == n_train and trained_on[-1] == n_train - 1
    out = capsys.readouterr().out
    assert "columns: no header row: flux (time: the row number, from 0)" in out
    assert (f"UCR anomaly archive file: rows 0..{n_train - 1} the training part, the anomaly "
            f"at rows {lo}..{hi}; training on the training part") in out
    # one ECG cycle is ~137 points: the window covers one (the default 64 would not)
    assert re.search(r"the window is one period of the training series \(1[2-5]\d grid points", out)
    assert "point score: novelty (each window's distance to the nearest training windows), " \
        "chosen by scoring.point=auto (the held-out residuals are structured" in out

    metrics = tmp_path / "metrics.json"
    assert main(["evaluate", "--model", str(bundle), "--data", str(data), "--no-tracking",
                 "--output", str(metrics), "--baselines"]) == 0
    assert "scoring every row, the metrics on the points after the training part" in (
        capsys.readouterr().out)
    methods = json.loads(metrics.read_text())["methods"]
    assert methods["lcad"]["located"] == 1.0 and methods["lcad"]["pr_auc"] > 0.3
    # the archive's own baseline: each cycle against the training part's, the same rule
    assert methods["matrix_profile"]["located"] == 1.0

    scores = tmp_path / "scores.csv"
    assert main(["score", "--model", str(bundle), "--data", str(data), "--output",
                 str(scores)]) == 0
    points = pd.read_csv(scores)
    assert len(points) == flux.size and points["time"].iloc[-1] == flux.size - 1
    top = points["time"].iloc[int(points["score"].idxmax())]
    assert lo - 100 <= top <= hi + 100

    other = tmp_path / "ecg.txt"  # not named as the archive names its files: labels needed
    np.savetxt(other, flux, fmt="%.6f")
    assert main(["evaluate", "--model", str(bundle), "--data", str(other), "--no-tracking"]) == 2
    assert "no --labels given" in capsys.readouterr().err


def _periodic_star(tmp_path: Path) -> Path:
    """A rotating-star-like series: a 200-point cycle with its harmonic and a little noise,
    5000 points."""
    rng = np.random.default_rng(8)
    t = np.arange(5000.0)
    flux = (np.sin(2 * np.pi * t / 200) + 0.3 * np.sin(4 * np.pi * t / 200)
            + rng.normal(0, 0.05, t.size))
    data = tmp_path / "star.csv"
    pd.DataFrame({"object_id": "star", "time": t, "flux": flux}).to_csv(data, index=False)
    return data


def test_a_window_given_is_the_scans_starting_context_on_a_periodic_series(tmp_path, capsys):
    """`lcad train --window 48` on a rotating-star-like series (a 200-point cycle with noise):
    the scan is chosen at 48 and the network is trained again on windows of two periods (its
    context: a network that sees part of a rotation reconstructs part of a dip); the run
    says so and how to keep 48, and `preprocess.window_from_period_scan=false` keeps it."""
    data = _periodic_star(tmp_path)
    bundle = tmp_path / "bundle"
    assert main(["train", "--data", str(data), "--output", str(bundle), "--no-tracking",
                 "--window", "48"]) == 0
    out = capsys.readouterr().out
    found = re.search(r"the window is 2 periods of the training series \((\d+) grid points: "
                      r"preprocess.window_from_period_scan; --window N with --set "
                      r"preprocess.window_from_period_scan=false sets one\)", out)
    assert found and 390 <= int(found.group(1)) <= 410, out
    assert "point score: the residual scan (the reconstruction's residuals tested against the " \
        "held-out ones), chosen by scoring.point=auto on windows of 48 grid points (their " \
        "held-out residuals were white) and kept on the windows of the period" in out
    det = Detector.load(bundle)
    assert det.point_method == "scan" and det.window == int(found.group(1))
    kept = tmp_path / "kept"
    assert main(["train", "--data", str(data), "--output", str(kept), "--no-tracking",
                 "--window", "48", "--set", "preprocess.window_from_period_scan=false"]) == 0
    assert "periods of the training series" not in capsys.readouterr().out
    assert Detector.load(kept).window == 48


def test_the_window_line_names_the_rule_that_set_the_window(tmp_path, capsys):
    """Novelty's period rule (`preprocess.window_from_period`) trains again on windows of one
    period and leaves the point score to be chosen there; where the scan is chosen then, the
    window was still set by novelty's rule, and the line says so (it named the scan's rule,
    whose `=false` would not have kept the window)."""
    from types import SimpleNamespace

    from lcad.cli import _report_training
    from lcad.models.point_scores import point_score_reason

    data = _periodic_star(tmp_path)
    bundle = tmp_path / "bundle"
    assert main(["train", "--data", str(data), "--output", str(bundle), "--no-tracking",
                 "--set", "scoring.point=novelty"]) == 0
    line = r"the window is one period of the training series \((\d+) grid points: " \
        r"preprocess.window_from_period; --window N sets one\)"
    found = re.search(line, capsys.readouterr().out)
    assert found and 190 <= int(found.group(1)) <= 210
    det = Detector.load(bundle)
    assert det.point_method == "novelty" and det.window == int(found.group(1))
    # the same run had `auto` chosen the scan at the period: the rule is still novelty's
    det.config = det.config.with_sections({"scoring": {"point": "auto"}})
    det.calibration.point_method = "scan"
    det.info.point_score_reason = point_score_reason(det, {**det.metrics, "residual_lag1": 0.05},
                                                     "auto", 64)
    _report_training(SimpleNamespace(metrics=det.metrics, detector=det, bundle=bundle,
                                     run_id=None, logged={}, not_logged=[]))
    out = capsys.readouterr().out
    assert re.search(line, out)
    # chosen again at the period, not kept from the first window (the scan's own rule)
    assert "point score: the residual scan" in out and "kept on the windows" not in out
    assert "(the held-out residuals are white: lag-1 +0.05, within +-0.1)" in out


def test_the_scans_period_windows_are_capped(tmp_path, capsys):
    """`preprocess.scan_period_max` (session 41): the scan's period rule trains on two
    periods, but never on more grid points than the cap (a dense network on windows of
    700-1900 points fell short of its noise ceiling); the run says what capped the window."""
    data = _periodic_star(tmp_path)
    bundle = tmp_path / "bundle"
    assert main(["train", "--data", str(data), "--output", str(bundle), "--no-tracking",
                 "--window", "48", "--set", "preprocess.scan_period_max=256"]) == 0
    out = capsys.readouterr()
    assert re.search(r"trained again with windows of 256 points \(2 periods would be \d+: "
                     r"preprocess.scan_period_max\), keeping the residual scan .*, up to 90 "
                     r"epochs \(preprocess.scan_period_epoch_factor\)", out.err + out.out), out
    assert re.search(r"the window is 256 grid points, the most preprocess.scan_period_max "
                     r"allows of the training series' 2 x \d+-point periods "
                     r"\(preprocess.window_from_period_scan; ", out.out), out.out
    # the network on whole cycles trains up to 3 x train.epochs (session 45:
    # preprocess.scan_period_epoch_factor), and the epoch lines count against that
    assert re.search(r"^epoch 1/30 ", out.out, re.M) and re.search(r"^epoch 1/90 ", out.out,
                                                                    re.M), out.out
    det = Detector.load(bundle)
    assert det.point_method == "scan" and det.window == 256 and det.config.train.epochs == 90
    assert DetectorConfig().preprocess.scan_period_max == 512


def test_a_slow_rotators_scan_tests_its_runs_against_a_running_median(tmp_path, capsys):
    """`scoring.scan_baseline` (session 42): a slow rotation (400-point cycle, windows capped
    at 512) leaves the network's residuals red at 64 points; the run says so, the scan tests
    its runs against their running median, and `=0` keeps the residuals as they are."""
    rng = np.random.default_rng(8)
    t = np.arange(8000.0)
    spots = 1 + 0.3 * np.sin(2 * np.pi * t / 2800)
    flux = (spots * (np.sin(2 * np.pi * t / 400) + 0.3 * np.sin(4 * np.pi * t / 400))
            + rng.normal(0, 0.2, t.size))
    data = tmp_path / "slow.csv"
    pd.DataFrame({"object_id": "slow", "time": t, "flux": flux}).to_csv(data, index=False)
    bundle = tmp_path / "bundle"
    assert main(["train", "--data", str(data), "--output", str(bundle), "--no-tracking"]) == 0
    found = re.search(r"scan: the held-out residuals are red at 64 grid points \(their "
                      r"64-point means vary ([\d.]+) x as much as white noise's\): runs are "
                      r"tested against their running median over 64 points "
                      r"\(scoring.scan_baseline; =0 turns it off\)", capsys.readouterr().out)
    assert found and float(found.group(1)) >= 2.0
    det = Detector.load(bundle)
    assert det.point_method == "scan" and det.point_scorer.baseline == 64
    assert det.metrics["scan_baseline"] == 64
    assert det.metrics["residual_red"] == pytest.approx(float(found.group(1)), abs=0.06)
    off = tmp_path / "off"
    assert main(["train", "--data", str(data), "--output", str(off), "--no-tracking",
                 "--set", "scoring.scan_baseline=0"]) == 0
    assert "running median" not in capsys.readouterr().out
    assert Detector.load(off).point_scorer.baseline == 0


def test_an_eclipsing_binarys_residuals_are_weighed_against_their_scatter_at_each_slope(
        tmp_path, capsys):
    """`scoring.scan_scatter` (session 43): a detached eclipsing binary (eclipses of 15
    sigma, 1.2 % of a 160-point period wide) leaves the network's residuals wider where the
    reconstruction is steep; the run says how much, the scan (asked for: `auto` takes
    novelty on these residuals) weighs each residual against the scatter expected at its
    slope, the bundle keeps the curve, and `=0` scores every point alike and says nothing.
    (What it changes on real stars: tests/models/test_quality.py.)"""
    rng = np.random.default_rng(4)
    t = np.arange(9000.0)
    phase = (t / 160.3) % 1.0
    eclipses = (np.exp(-0.5 * ((phase - 0.25) / 0.012) ** 2)
                + 0.5 * np.exp(-0.5 * ((phase - 0.75) / 0.012) ** 2))
    flux = -15.0 * eclipses + rng.normal(0, 1.0, t.size)
    data = tmp_path / "eb.csv"
    pd.DataFrame({"object_id": "eb", "time": t, "flux": flux}).to_csv(data, index=False)
    scores = {}
    for name, extra in (("on", []), ("off", ["--set", "scoring.scan_scatter=0"])):
        bundle = tmp_path / name
        assert main(["train", "--data", str(data), "--output", str(bundle), "--no-tracking",
                     "--set", "scoring.point=scan", *extra]) == 0
        out = capsys.readouterr().out
        det = Detector.load(bundle)
        assert det.point_method == "scan"
        (scored,) = det.score([LightCurve.from_arrays("eb", t, flux)]).curves
        scores[name] = scored.point_score
        if name == "on":
            found = re.search(r"scan: the held-out residuals scatter ([\d.]+) x as much where "
                              r"the reconstruction is steepest as where it is flat: each "
                              r"point's residual is weighed against the scatter expected there "
                              r"\(scoring.scan_scatter; =0 turns it off\)", out)
            assert found and float(found.group(1)) >= 1.5
            assert det.metrics["residual_slope_gain"] == pytest.approx(
                float(found.group(1)), abs=0.06)
            assert list(det.point_scorer.scatter) == ["slope"]
        else:
            assert "scan_scatter" not in out and det.point_scorer.scatter == {}
            assert "residual_slope_gain" not in det.metrics
    assert not np.allclose(scores["on"], scores["off"], equal_nan=True)


@pytest.mark.parametrize("lag1, repeats, line", [
    (0.02, 0.0, "the residual scan (the reconstruction's residuals tested against the held-out "
     "ones), chosen by scoring.point=auto (the held-out residuals are white: lag-1 +0.02, "
     "within +-0.1)"),
    (-0.01, 0.9, "novelty (each window's distance to the nearest training windows), chosen by "
     "scoring.point=auto (the training fluxes repeat exactly (90% of consecutive values): no "
     "noise to test residuals against)"),
    (0.02, 0.9, "the residual scan (the reconstruction's residuals tested against the held-out "
     "ones): scoring.point=auto chose novelty (the training fluxes repeat exactly (90% of "
     "consecutive values): no noise to test residuals against), which could not compare "
     "windows")])
def test_the_point_score_reason_says_what_auto_chose_and_why(lag1, repeats, line):
    """What `lcad train` prints after `point score:` and the bundle keeps (session 46):
    white residuals keep the scan; noise-free fluxes go to novelty whatever their
    residuals, and where novelty could not run the scan says why novelty was chosen."""
    from types import SimpleNamespace

    from lcad.models.point_scores import point_score_reason

    det = SimpleNamespace(point_method="scan" if line.startswith("the residual") else "novelty",
                          alternatives={})
    got = point_score_reason(det, {"residual_lag1": lag1, "repeat_fraction": repeats},
                             "auto", 64)
    assert got.startswith(line), got


def test_a_novelty_scored_stars_interval_covers_its_dip_not_a_window_either_side(
        tmp_path, capsys):
    """Novelty spread by the mean flags every point a novel window covers: a window (64 grid
    points) either side of a 15-point dip on the eclipsing star. `lcad score`'s intervals
    narrow to the points every covering window finds novel (`scoring.novelty_intervals`
    'core', session 47: on the eclipsing star 2,871 interval points around 8 events before);
    'flagged' keeps the runs as they were."""
    from lcad.models.synthetic import inject, make_curve, to_frame

    rng = np.random.default_rng(3)
    star = make_curve("ecl", rng, kind="eclipsing", n_points=7000)

    def part(rows):
        return LightCurve.from_arrays("ecl", star.time[rows], star.flux[rows],
                                      star.flux_err[rows], emit_warnings=False)

    train, test = part(slice(0, 4000)), part(slice(4000, None))
    dip = inject(test, "dip", rng, amplitude=4.0, at=float(test.time[1500]))
    to_frame([train]).to_csv(tmp_path / "train.csv", index=False)
    to_frame([test]).to_csv(tmp_path / "test.csv", index=False)
    bundle = tmp_path / "bundle"
    # novelty asked for: `auto` takes it here at lag-1 near +0.2, too near the limit to rely on
    assert main(["train", "--data", str(tmp_path / "train.csv"), "--output", str(bundle),
                 "--no-tracking", "--set", "scoring.point=novelty"]) == 0
    assert "point score: novelty" in capsys.readouterr().out
    assert main(["score", "--model", str(bundle), "--data", str(tmp_path / "test.csv"),
                 "--output", str(tmp_path / "scores.csv")]) == 0
    intervals = pd.read_csv(tmp_path / "scores.intervals.csv")
    on_dip = intervals[(intervals["start"] <= dip.end) & (intervals["end"] >= dip.start)]
    assert len(on_dip) == 1, intervals
    step = float(np.median(np.diff(test.time)))
    (start, end), length = on_dip[["start", "end"]].iloc[0], dip.end - dip.start
    assert min(end, dip.end) - max(start, dip.start) >= 0.5 * length  # half the dip or more
    assert end - start <= length + 16 * step, (start, end, dip)  # not a window either side
    # the points flagged are those inside the intervals (2,860 around 8 events before)
    points = pd.read_csv(tmp_path / "scores.csv")
    flagged = points.loc[points["is_anomaly"], "time"].to_numpy()
    assert flagged.size and all(((intervals["start"] - step / 2 <= t)
                                 & (t <= intervals["end"] + step / 2)).any() for t in flagged)
    assert flagged.size < 4 * intervals["n_points"].sum()

    det = Detector.load(bundle)
    det.config.scoring.novelty_intervals = "flagged"
    (runs,) = det.score([test])
    wide = [iv for iv in runs.intervals if iv.start <= dip.end and iv.end >= dip.start]
    assert len(wide) == 1 and wide[0].end - wide[0].start > length + 64 * step, wide
    assert runs.is_anomaly.sum() > 2 * flagged.size  # every point above the threshold


def test_a_series_trained_on_whole_and_scored_again_finds_its_own_anomaly(tmp_path, capsys):
    """The first thing a user does: train on a file, anomaly and all, then score the same
    file. Novelty compared each window of the training part with the reference, which holds
    that very window: distance 0, nothing found there (a NAB series scored this way: PR-AUC
    0.226, no interval on its anomalies). A curve of the reference scored again now skips
    the reference windows overlapping each window in time, as calibration's self-join does
    (session 47: the same series 0.373, half its anomalies in an interval)."""
    rng = np.random.default_rng(5)
    t = np.arange(6000) / 96.0  # 15-minute data: a daily cycle of 96 points, 62 days
    f = np.sin(2 * np.pi * t) + 0.3 * np.sin(4 * np.pi * t + 1) + rng.normal(0, 0.05, t.size)
    odd = slice(1500, 1596)  # one day inside the training part, its cycle a fifth as deep
    f[odd] *= 0.2
    data = tmp_path / "plant.csv"
    pd.DataFrame({"time": t, "flux": f}).to_csv(data, index=False)
    bundle = tmp_path / "bundle"
    assert main(["train", "--data", str(data), "--output", str(bundle), "--no-tracking",
                 "--set", "scoring.point=novelty"]) == 0
    capsys.readouterr()
    assert main(["score", "--model", str(bundle), "--data", str(data), "--output",
                 str(tmp_path / "scores.csv")]) == 0
    out = capsys.readouterr().out
    assert "1 of the object(s) are training curves (plant): novelty compared each of their " \
        "windows with the training windows apart from it in time (a self-join)" in out, out
    points = pd.read_csv(tmp_path / "scores.csv")
    top = points["time"].iloc[int(points["score"].idxmax())]
    assert t[odd][0] - 0.5 <= top <= t[odd][-1] + 0.5, top  # within half a day of it
    intervals = pd.read_csv(tmp_path / "scores.intervals.csv")
    assert ((intervals["start"] <= t[odd][-1]) & (intervals["end"] >= t[odd][0])).any()
    # another object (the same values under another name) is new to the model: not said
    other = tmp_path / "other.csv"
    other.write_text(data.read_text())
    assert main(["score", "--model", str(bundle), "--data", str(other), "--output",
                 str(tmp_path / "other-scores.csv")]) == 0
    assert "training curves" not in capsys.readouterr().out
