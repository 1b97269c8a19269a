"""Spark batch scoring (`lcad spark-score`, `score_spark`) and the pyfunc in
`mlflow.pyfunc.spark_udf`, on a real local[2] Spark session."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lcad.cli import main
from lcad.models.detector import Detector
from lcad.models.frames import curves_from_frame
from tests.conftest import SYNTH, as_ztf_alerts


@pytest.fixture(scope="module")
def spark():
    from lcad.training.spark import spark_session

    session = spark_session("local[2]")
    session.conf.set("spark.sql.shuffle.partitions", "4")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """Synthetic curves (the tiny model's one band), one long enough to be scored in
    segments, one too short to score; as Parquet."""
    from lcad.models.synthetic import synthetic_dataset, to_frame

    curves, _ = synthetic_dataset(10, seed=5, **SYNTH)
    frame = to_frame(curves)
    long_curves, _ = synthetic_dataset(1, seed=6, **{**SYNTH, "n_points": 2600})
    long = to_frame(long_curves).assign(object_id="long")
    short = pd.DataFrame({"object_id": "short", "time": [0.0, 0.02, 0.04],
                          "flux": [1.0, 1.1, 0.9], "flux_err": 0.05, "band": "default"})
    frame = pd.concat([frame, long, short], ignore_index=True)
    path = tmp_path_factory.mktemp("spark") / "survey.parquet"
    frame.to_parquet(path)
    return path


def sorted_points(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({"object_id": str, "band": str})
    return frame.sort_values(["object_id", "time", "band"]).reset_index(drop=True)


def test_spark_score_gives_the_numbers_of_lcad_score(spark, tiny_bundle, survey, tmp_path,
                                                     capsys):
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "700")  # objects span
    ref = tmp_path / "ref.parquet"                                          # batches
    assert main(["score", "--model", str(tiny_bundle), "--data", str(survey),
                 "--output", str(ref), "--segment-points", "1000"]) == 0
    out = tmp_path / "spark"
    assert main(["spark-score", "--model", str(tiny_bundle), "--data", str(survey),
                 "--output", str(out), "--segment-points", "1000", "--partitions", "3"]) == 0
    said = capsys.readouterr()
    assert "scored 11 object(s)" in said.out and "1 skipped" in said.out
    assert "skipped short: " in said.err
    want, got = sorted_points(pd.read_parquet(ref)), sorted_points(pd.read_parquet(out / "points"))
    assert list(got.columns) == list(want.columns) and len(got) == len(want) > 9000
    assert (got["object_id"] == want["object_id"]).all() and (got["band"] == want["band"]).all()
    for col in ("time", "flux", "reconstruction", "score", "p_value"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-6, atol=1e-9, err_msg=col)
    assert (got["is_anomaly"] == want["is_anomaly"]).all()
    objects = pd.read_parquet(out / "objects").sort_values("object_id").reset_index(drop=True)
    ref_objects = pd.read_parquet(tmp_path / "ref.objects.parquet").astype({"object_id": str})
    ref_objects = ref_objects.sort_values("object_id").reset_index(drop=True)
    assert objects["object_id"].tolist() == ref_objects["object_id"].tolist()
    assert "long" in objects["object_id"].tolist()  # the segmented path
    np.testing.assert_allclose(objects["score"], ref_objects["score"], rtol=1e-6)
    np.testing.assert_allclose(objects["p_value"], ref_objects["p_value"], rtol=1e-6)
    for col in ("is_anomalous", "n_points", "n_anomalous_points", "n_intervals"):
        assert objects[col].tolist() == ref_objects[col].tolist(), col
    intervals = pd.read_parquet(out / "intervals").astype({"object_id": str, "sign": str})
    ref_intervals = pd.read_parquet(tmp_path / "ref.intervals.parquet").astype(
        {"object_id": str, "sign": str})
    key = ["object_id", "start", "end"]
    intervals, ref_intervals = (f.sort_values(key).reset_index(drop=True)
                                for f in (intervals, ref_intervals))
    assert len(intervals) == len(ref_intervals) == objects["n_intervals"].sum() > 0
    assert "long" in intervals["object_id"].tolist()  # the segmented path's intervals too
    for col in ("object_id", "sign", "n_points"):
        assert intervals[col].tolist() == ref_intervals[col].tolist(), col
    for col in ("start", "end", "peak_time", "peak_score", "p_value"):
        np.testing.assert_allclose(intervals[col], ref_intervals[col], rtol=1e-6, err_msg=col)
    skipped = pd.read_parquet(out / "skipped")
    assert skipped["object_id"].tolist() == ["short"] and "too short" in skipped["reason"][0]
    # results are not overwritten unless asked
    assert main(["spark-score", "--model", str(tiny_bundle), "--data", str(survey),
                 "--output", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_a_dataframe_with_survey_column_names_and_a_broken_object(spark, tiny_detector,
                                                                  tiny_bundle, survey,
                                                                  tmp_path):
    from lcad.training.spark import score_spark

    frame = pd.read_parquet(survey)
    frame = frame[frame.object_id.isin(["synth-0000", "synth-0001"])]
    broken = pd.DataFrame({"object_id": "all-nan", "time": [0.0, 1.0, 2.0],
                           "flux": np.nan, "flux_err": 0.1, "band": "default"})
    renamed = pd.concat([frame, broken]).rename(columns={
        "object_id": "source_id", "time": "mjd", "flux": "flux", "flux_err": "sigma",
        "band": "filter"})
    summary = score_spark(spark.createDataFrame(renamed), str(tiny_bundle), tmp_path / "o",
                          spark=spark)
    assert summary["n_objects"] == 2 and summary["n_skipped"] == 1
    assert "all-nan" in summary["skipped"]
    got = pd.read_parquet(tmp_path / "o" / "objects").sort_values("object_id")
    want = tiny_detector.score(curves_from_frame(frame, emit_warnings=False)).to_frame()
    np.testing.assert_allclose(got["score"], want["score"], rtol=1e-6)


def test_spark_score_names_training_curves_scored_again(spark, tiny_config, tmp_path,
                                                        capsys):
    """As `lcad score` does: the objects that are the model's training curves were scored
    apart from their own windows (novelty's self-join), and the line says which; a copy of
    one under another name is new to the model, and one too short to score is not named."""
    from lcad.models.fit import fit_detector
    from lcad.models.synthetic import synthetic_dataset, to_frame

    curves, _ = synthetic_dataset(8, seed=1, **SYNTH)
    config = tiny_config.with_overrides(["scoring.point=novelty"])
    det, _ = fit_detector(curves, config)
    bundle = tmp_path / "novelty"
    det.save(bundle)
    frame = to_frame(curves[:3])
    copy = frame[frame.object_id == "synth-0000"].assign(object_id="renamed")
    short = frame[frame.object_id == "synth-0002"].head(3)
    data = tmp_path / "again.parquet"
    pd.concat([frame[frame.object_id != "synth-0002"], copy, short]).to_parquet(data)
    assert main(["spark-score", "--model", str(bundle), "--data", str(data),
                 "--output", str(tmp_path / "out"), "--partitions", "2"]) == 0
    said = capsys.readouterr()
    assert "scored 3 object(s)" in said.out and "1 skipped" in said.out, said
    line = next(x for x in said.out.splitlines() if "training curves" in x)
    assert line.startswith("2 of the object(s) are training curves (synth-0000, synth-0001")
    assert "renamed" not in line and "synth-0002" not in line, line
    # lcad score says the same line (the skipped training curve not named there either)
    assert main(["score", "--model", str(bundle), "--data", str(data),
                 "--output", str(tmp_path / "scores.parquet")]) == 0
    assert line in capsys.readouterr().out
    # asked for events (the scan calibrated beside novelty): the numbers of `lcad score
    # --look-for events`, not the model's own
    assert main(["spark-score", "--model", str(bundle), "--data", str(data), "--look-for",
                 "events", "--output", str(tmp_path / "events"), "--partitions", "2"]) == 0
    assert main(["score", "--model", str(bundle), "--data", str(data), "--look-for",
                 "events", "--output", str(tmp_path / "events.parquet")]) == 0
    assert "point score: the residual scan" in capsys.readouterr().out
    want = sorted_points(pd.read_parquet(tmp_path / "events.parquet"))
    got = sorted_points(pd.read_parquet(tmp_path / "events" / "points"))
    own = sorted_points(pd.read_parquet(tmp_path / "scores.parquet"))
    np.testing.assert_allclose(got["score"], want["score"], rtol=1e-6, atol=1e-9)
    assert not np.allclose(got["score"], own["score"], equal_nan=True)


def test_spark_score_masks_quality_flags_as_lcad_score_does(spark, tiny_bundle, survey,
                                                             tmp_path):
    """A quality column (lightkurve's `quality`): a flagged point is masked by both paths,
    so a flagged 100-sigma spike is not scored, and the numbers agree."""
    frame = pd.read_parquet(survey)
    frame = frame[frame["object_id"] != "long"].reset_index(drop=True)
    frame["quality"] = 0
    first = frame.index[frame["object_id"] == frame["object_id"].iloc[0]]
    spike = first[len(first) // 2]
    frame.loc[spike, ["flux", "quality"]] = [frame["flux"].iloc[spike] + 100.0, 128]
    data = tmp_path / "flagged.parquet"
    frame.to_parquet(data)
    ref = tmp_path / "ref.parquet"
    assert main(["score", "--model", str(tiny_bundle), "--data", str(data),
                 "--output", str(ref)]) == 0
    assert main(["spark-score", "--model", str(tiny_bundle), "--data", str(data),
                 "--output", str(tmp_path / "spark"), "--partitions", "2"]) == 0
    want = sorted_points(pd.read_parquet(ref))
    got = sorted_points(pd.read_parquet(tmp_path / "spark" / "points"))
    at = (want["object_id"] == str(frame["object_id"].iloc[spike])) & \
        np.isclose(want["time"], frame["time"].iloc[spike])
    assert at.sum() == 1 and np.isnan(want.loc[at, "score"]).all()  # masked, not scored
    for col in ("flux", "score", "p_value"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-6, atol=1e-9, err_msg=col)


def test_spark_score_refuses_what_it_cannot_use(spark, tiny_bundle, survey, tmp_path, capsys):
    no_ids = tmp_path / "no_ids.parquet"
    pd.read_parquet(survey).drop(columns=["object_id"]).to_parquet(no_ids)
    assert main(["spark-score", "--model", str(tiny_bundle), "--data", str(no_ids),
                 "--output", str(tmp_path / "a")]) == 2
    assert "no object id column" in capsys.readouterr().err
    assert main(["spark-score", "--model", str(tmp_path / "missing"), "--data", str(survey),
                 "--output", str(tmp_path / "b")]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["spark-score", "--model", str(tiny_bundle), "--data",
                 str(tmp_path / "nothing.parquet"), "--output", str(tmp_path / "c")]) == 2
    assert "no such file" in capsys.readouterr().err
    # novelty asked of a model that scores the scan: named before any work
    assert main(["spark-score", "--model", str(tiny_bundle), "--data", str(survey),
                 "--look-for", "shapes", "--output", str(tmp_path / "d")]) == 2
    assert "Train with --look-for shapes" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_registered_pyfunc_in_spark_udf_with_a_struct_result(spark, tiny_bundle, survey,
                                                             tmp_path, monkeypatch):
    """One row per object, its points as arrays (as an alert broker holds them), scored by
    the registered pyfunc in `mlflow.pyfunc.spark_udf`; then `score_spark` from the same
    registry URI."""
    import mlflow
    from pyspark.sql import functions as F  # noqa: N812

    from lcad.training.mlflow_model import SPARK_RESULT_TYPE
    from lcad.training.spark import score_spark
    from lcad.training.tracking import log_pyfunc

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("lcad-spark")  # not an experiment id an earlier test made active
    with mlflow.start_run():
        log_pyfunc(tiny_bundle, None, "lcad-spark", promote=True)
    rows = (spark.read.parquet(str(survey)).where(F.col("object_id") != "long")
            .orderBy("object_id", "time")
            .groupBy("object_id").agg(*(F.collect_list(c).alias(c)
                                        for c in ("time", "flux", "flux_err", "band"))))
    udf = mlflow.pyfunc.spark_udf(spark, "models:/lcad-spark@champion",
                                  result_type=SPARK_RESULT_TYPE, env_manager="local")
    got = (rows.withColumn("lcad", udf(F.struct("object_id", "time", "flux", "flux_err",
                                                 "band")))
           .select("lcad.*").toPandas().set_index("object_id").sort_index())
    assert len(got) == 11
    assert got["error"]["short"].startswith("too short") and np.isnan(got["score"]["short"])
    det = Detector.load(tiny_bundle)
    frame = pd.read_parquet(survey)
    frame = frame[~frame.object_id.isin(["long", "short"])]
    want = det.score(curves_from_frame(frame, emit_warnings=False))
    for c in want:
        row = got.loc[c.object_id]
        assert row["score"] == pytest.approx(c.score, rel=1e-6)
        assert row["p_value"] == pytest.approx(c.p_value, rel=1e-6)
        assert bool(row["is_anomalous"]) == c.is_anomalous and row["error"] == ""
        np.testing.assert_allclose(row["latent"], c.latent.mean(axis=0), rtol=1e-5, atol=1e-6)
    assert np.std(np.stack(got["latent"].drop("short").to_numpy()), axis=0).max() > 0
    summary = score_spark(str(survey), "models:/lcad-spark@champion", tmp_path / "reg",
                          spark=spark)
    assert summary["n_objects"] == 11


def test_spark_submit_runs_the_documented_job(tiny_bundle, survey, tmp_path):
    """docs/scale.md's cluster recipe, on a local master: spark-submit runs
    training/spark.py with the arguments of `lcad spark-score`."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import lcad.training.spark as job

    submit = Path(sys.executable).with_name("spark-submit")
    if not submit.exists():
        submit = Path(shutil.which("spark-submit") or "spark-submit")
    out = tmp_path / "submitted"
    proc = subprocess.run(
        [str(submit), "--master", "local[2]", "--conf", "spark.ui.enabled=false",
         "--conf", f"spark.pyspark.python={sys.executable}", job.__file__,
         "--model", str(tiny_bundle), "--data", str(survey), "--output", str(out)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "scored 11 object(s)" in proc.stdout and f"objects: {out}/objects" in proc.stdout
    objects = pd.read_parquet(out / "objects")
    assert sorted(objects["object_id"]) == sorted(
        [f"{i}" for i in pd.read_parquet(survey)["object_id"].astype(str).unique()
         if i != "short"])
    # a mistake is named and exits 2, as with `lcad spark-score`
    again = subprocess.run(
        [str(submit), "--master", "local[1]", job.__file__, "--model", str(tiny_bundle),
         "--data", str(survey), "--output", str(out)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable})
    # spark-submit hands the Python driver's error output on as its standard output
    said = [line for line in again.stdout.splitlines() if line.startswith("lcad ")]
    assert again.returncode == 2 and said and "--overwrite" in said[-1], said
    assert "MapInPandas" not in again.stderr  # refused before any scoring


def test_spark_score_makes_ztf_difference_magnitudes_apparent_as_lcad_score_does(
        spark, tiny_bundle, survey, tmp_path):
    """The survey's curves written as ZTF alerts (magpsf: the size of each point's difference
    from a reference flux, isdiffpos its sign, magnr and distnr the reference): `lcad score`
    and `lcad spark-score` both read them back as the curves themselves (ALeRCE's correction),
    so the points score as the plain fluxes do."""
    frame = pd.read_parquet(survey)
    frame = frame[frame["object_id"] != "long"].reset_index(drop=True)
    alerts = as_ztf_alerts(frame)
    data, plain = tmp_path / "alerts.parquet", tmp_path / "plain.parquet"
    alerts.to_parquet(data)
    frame.to_parquet(plain)
    for name, source in (("plain", plain), ("alerts", data)):
        assert main(["score", "--model", str(tiny_bundle), "--data", str(source),
                     "--output", str(tmp_path / f"{name}-scores.parquet")]) == 0
    assert main(["spark-score", "--model", str(tiny_bundle), "--data", str(data),
                 "--output", str(tmp_path / "spark"), "--partitions", "2"]) == 0
    want = sorted_points(pd.read_parquet(tmp_path / "plain-scores.parquet"))
    for got in (pd.read_parquet(tmp_path / "alerts-scores.parquet"),
                pd.read_parquet(tmp_path / "spark" / "points")):
        got = sorted_points(got)
        assert len(got) == len(want) and np.isfinite(got["score"]).all()
        for col in ("flux", "score", "p_value"):
            np.testing.assert_allclose(got[col], want[col], rtol=1e-5, atol=1e-7,
                                       err_msg=col)
