import importlib.util
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from numpy.testing import assert_allclose

from lcad.models.detector import Detector
from lcad.models.errors import BundleError, LightCurveError
from lcad.models.lightcurve import LightCurve
from lcad.models.synthetic import inject, synthetic_dataset
from tests.conftest import ROOT, SYNTH


@pytest.fixture(scope="module")
def scored(tiny_detector):
    rng = np.random.default_rng(5)
    curves, _ = synthetic_dataset(20, seed=99, **SYNTH)
    flare = inject(curves[0], "flare", rng, amplitude=4)
    dip = inject(curves[1], "dip", rng, amplitude=4)
    return curves, (flare, dip), tiny_detector.score(curves)


def test_flags_injected_flare_and_dip(scored):
    _, injections, result = scored
    for c, inj in zip(result.curves[:2], injections, strict=True):
        assert c.is_anomalous, inj.kind
        inside = (c.time >= inj.start) & (c.time <= inj.end)
        assert c.point_score[inside].max() > c.threshold
        assert any(i.start <= inj.end and i.end >= inj.start for i in c.intervals), inj.kind
    assert result.curves[0].intervals[0].sign == "brightening"


def test_clean_curves_stay_near_the_target_false_alarm_rate(scored, tiny_detector):
    _, _, result = scored
    scores = np.concatenate([c.point_score for c in result.curves[2:]])
    far = np.mean(scores[np.isfinite(scores)] > tiny_detector.threshold)
    assert far <= 5 * tiny_detector.calibration.target_far
    flagged = sum(c.is_anomalous for c in result.curves[2:])
    assert flagged <= 3


def test_results_become_frames(scored, tiny_detector):
    curves, _, result = scored
    points = result.points_frame()
    assert list(points.columns) == ["object_id", "time", "band", "flux", "reconstruction",
                                    "score", "p_value", "is_anomaly"]
    assert len(points) == sum(len(c) for c in curves)
    summary = result.to_frame()
    assert summary["is_anomalous"].iloc[:2].all()
    first = result.curves[0]
    assert first.windows_frame().shape[0] == first.latent.shape[0]
    assert first.latent.shape[1] == tiny_detector.latent_dim
    assert not result.intervals_frame().empty


def test_encode_and_reconstruct_align_with_input(tiny_detector, scored):
    curves, _, result = scored
    enc = tiny_detector.encode(curves[:2])
    rec = tiny_detector.reconstruct(curves[:2])
    assert_allclose(enc[0].latent, result.curves[0].latent, rtol=1e-6)
    assert_allclose(rec[1].reconstruction, result.curves[1].reconstruction)
    assert rec[0].time.shape == curves[0].time.shape
    good = np.isfinite(rec[2 - 2].reconstruction)
    assert good.mean() > 0.95
    # reconstructions are in flux units, close to the clean input
    err = np.abs(rec[0].reconstruction - curves[0].flux)[good]
    assert np.median(err) < 0.3


def test_save_load_gives_identical_scores(tiny_bundle, tiny_detector, scored):
    curves, _, result = scored
    loaded = Detector.load(tiny_bundle)
    again = loaded.score(curves[:3])
    for a, b in zip(result.curves[:3], again.curves, strict=True):
        assert_allclose(a.point_score, b.point_score, rtol=1e-6)
        assert a.score == pytest.approx(b.score, rel=1e-6)
    meta = json.loads((tiny_bundle / "config.json").read_text())
    assert meta["schema_version"] == 1 and meta["preprocess"]["bands"] == ["default"]
    assert set(os.listdir(tiny_bundle)) == {"config.json", "model.keras", "calibration.json"}


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_truncated_model_is_named(tiny_bundle, tmp_path):
    b = _copy(tiny_bundle, tmp_path / "b")
    data = (b / "model.keras").read_bytes()
    (b / "model.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match=r"model\.keras: checksum mismatch"):
        Detector.load(b)


def test_corrupt_model_without_checksum_is_named(tiny_bundle, tmp_path):
    b = _copy(tiny_bundle, tmp_path / "b")
    meta = json.loads((b / "config.json").read_text())
    meta["files"].pop("model.keras")
    (b / "config.json").write_text(json.dumps(meta))
    with zipfile.ZipFile(b / "model.keras", "w") as z:
        z.writestr("config.json", "{not json")
    with pytest.raises(BundleError, match=r"model\.keras: cannot be loaded"):
        Detector.load(b)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: (p / "config.json").write_text("{oops"), r"config\.json: not valid JSON"),
        (lambda p: (p / "config.json").unlink(), r"config\.json: file is missing"),
        (lambda p: (p / "calibration.json").unlink(), r"calibration\.json: file is missing"),
        (lambda p: (p / "config.json").write_text(
            json.dumps({**json.loads((p / "config.json").read_text()), "schema_version": 99})),
         "schema_version 99 is not supported"),
    ],
)
def test_bad_bundles_are_named(tiny_bundle, tmp_path, mutate, message):
    b = _copy(tiny_bundle, tmp_path / "b")
    mutate(b)
    with pytest.raises(BundleError, match=message):
        Detector.load(b)


def test_missing_bundle(tmp_path):
    with pytest.raises(BundleError, match="bundle not found"):
        Detector.load(tmp_path / "nope")


def test_failed_save_keeps_the_old_bundle(tiny_detector, tmp_path, monkeypatch):
    target = tmp_path / "bundle"
    tiny_detector.save(target)
    before = (target / "model.keras").read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(tiny_detector.model, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        tiny_detector.save(target)
    assert (target / "model.keras").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]  # no half-written leftovers
    Detector.load(target)


def test_bad_curves_get_named_errors(tiny_detector):
    short = LightCurve.from_arrays("short", np.arange(10) * 0.02, np.ones(10))
    with pytest.raises(LightCurveError, match="'short': too short"):
        tiny_detector.score([short])
    res = tiny_detector.score([short], on_error="skip")
    assert len(res) == 0 and "too short" in res.skipped["short"]
    banded = LightCurve.from_arrays("b", np.arange(100) * 0.02, np.ones(100), band=["zz"] * 100)
    with pytest.raises(LightCurveError, match="unknown band"):
        tiny_detector.score([banded])


def test_gappy_curve_has_no_score_in_gaps(tiny_detector):
    t = np.concatenate([np.arange(200) * 0.02, 10 + np.arange(200) * 0.02])
    lc = LightCurve.from_arrays("gap", t, 10 + np.sin(2 * np.pi * t / 0.6))
    c = tiny_detector.score([lc]).curves[0]
    assert np.isfinite(c.point_score).all()
    assert all(not (4.1 < i.start < 9.9) for i in c.intervals)


def test_crash_between_the_renames_of_save_loads_the_previous_bundle(tiny_detector, tmp_path,
                                                                     monkeypatch):
    import lcad.models.bundle as mod

    target = tmp_path / "bundle"
    tiny_detector.save(target)
    real_replace, calls = os.replace, []

    def second_rename_dies(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies right between the two renames
        real_replace(src, dst)

    monkeypatch.setattr(mod.os, "replace", second_rename_dies)
    with pytest.raises(KeyboardInterrupt):
        tiny_detector.save(target)
    monkeypatch.undo()
    assert not target.exists()
    with pytest.warns(UserWarning, match="loading the previous bundle"):
        Detector.load(target)
    tiny_detector.save(target)  # the next save cleans up the leftover
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


NEEDS_JAX = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                               reason="jax is not installed (pip install 'lcad[jax]')")
KILL_SAVE_CHILD = """
import sys
from lcad.models.detector import Detector
det = Detector.load(sys.argv[1])
target = sys.argv[2]
det.save(target)
print("ready", flush=True)
i = 0
while True:
    det.calibration.point_threshold = float(i % 2)  # two recognisable versions
    det.save(target)
    i += 1
"""


@pytest.mark.slow
@NEEDS_JAX
@pytest.mark.parametrize("delay", [0.05, 0.13, 0.31, 0.57])
def test_sigkill_during_save_leaves_a_loadable_bundle(tiny_bundle, tmp_path, delay):
    import signal
    import time
    import warnings

    target = tmp_path / "bundle"
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", KILL_SAVE_CHILD, str(tiny_bundle),
                              str(target)], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = Detector.load(target)  # the old bundle or the new one, never half of one
    assert det.calibration.point_threshold in (0.0, 1.0, tiny_bundle_threshold(tiny_bundle))
    assert det.score(synthetic_dataset(1, seed=5, **SYNTH)[0]).curves


def tiny_bundle_threshold(path):
    return json.loads((path / "calibration.json").read_text())["point_threshold"]


@NEEDS_JAX
def test_same_scores_under_the_jax_backend(tiny_bundle, tiny_detector, tmp_path):
    curves, _ = synthetic_dataset(2, seed=7, **SYNTH)
    expected = tiny_detector.score(curves)
    script = (
        "import sys, numpy as np\n"
        "from lcad.models.detector import Detector\n"
        "from lcad.models.synthetic import synthetic_dataset\n"
        "from tests.conftest import SYNTH\n"
        "import keras; assert keras.backend.backend() == 'jax'\n"
        "curves, _ = synthetic_dataset(2, seed=7, **SYNTH)\n"
        f"res = Detector.load({str(tiny_bundle)!r}).score(curves)\n"
        f"np.save({str(tmp_path / 's.npy')!r}, np.stack([c.point_score for c in res]))\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=ROOT, timeout=300)
    got = np.load(tmp_path / "s.npy")
    # float32 kernels differ between backends; -log10 p scores amplify that slightly
    assert_allclose(got, np.stack([c.point_score for c in expected]), rtol=5e-3, atol=1e-6)


def test_whole_curve_mode_on_real_multiband_rr_lyrae():
    """Sparse, irregular, five-band survey curves: one resampled window per object."""
    from lcad.models.config import DetectorConfig
    from lcad.models.fit import fit_detector
    from lcad.models.io import read_curves
    from tests.conftest import shared_data

    curves = read_curves(shared_data("rrlyrae", "stripe82_rrlyrae.csv"))[:60]
    cfg = DetectorConfig.from_dict({
        "preprocess": {"mode": "whole", "window": 16, "max_gap": 50},
        "model": {"hidden": [64], "latent": 4, "loss": "chi2"},
        "scoring": {"error": "chi2", "min_calibration_objects": 5},
        "train": {"epochs": 5, "batch_size": 16}})
    det, metrics = fit_detector(curves, cfg)
    assert det.bands == ["g", "i", "r", "u", "z"] and det.input_dim == 80
    result = det.score(curves[:10])
    assert len(result) == 10
    for c in result:  # the object model's embedding (models/objects.py), not the grid's code
        assert c.latent.shape == (1, det.embedding_dim) == (1, 8)
        assert c.window_band_error.shape == (1, 5)
        assert np.isfinite(c.score) and 0 < c.p_value <= 1
    assert det.calibration.object is not None  # object p-values from calibration objects
    assert metrics["n_train_windows"] > 20 and metrics["objects.val_r2"] > 0.3
    # no segment row in whole-curve mode (one window a curve; the object score answers)
    from lcad.models.point_scores import ScanScorer

    assert det.config.scoring.scan_segments and not ScanScorer.segments(det)
    assert det.config.scoring.scan_oscillations and not ScanScorer.oscillations(det)
    if isinstance(det.point_scorer, ScanScorer):
        assert len(det.point_scorer.tables) == len(det.config.scoring.scales) + int(
            det.config.scoring.scan_flanks)


def _odd(curve, kind, rng):
    """A copy of a survey curve made constant (its median plus noise at its errors) or given
    a 2-magnitude flare over its first 30 days."""
    import copy

    c = copy.deepcopy(curve)
    f, labels = c.flux.copy(), c.band_labels()
    for b in c.bands:
        s = (labels == b) & c.mask
        if kind == "constant":
            f[s] = np.median(f[s]) + rng.normal(0, 1, s.sum()) * c.flux_err[s]
    if kind == "flare":
        f[c.time < c.time[c.mask].min() + 30] *= 10 ** 0.8
    c.flux = f
    c.object_id = f"{kind}-{c.object_id}"
    return c


def test_whole_curve_mode_ranks_odd_survey_objects_first_and_keeps_it_in_the_bundle(tmp_path):
    """Trained on 90 RR Lyrae, scoring 30 held-out ones and 6 made odd (constant, flaring):
    the odd ones rank high (ROC-AUC >= 0.85); the bundle gives the same scores, p-values and
    embeddings; `encode` returns the embeddings."""
    from lcad.models.config import DetectorConfig
    from lcad.models.fit import fit_detector
    from lcad.models.io import read_curves
    from lcad.training.evaluate import ranking_metrics
    from tests.conftest import shared_data

    curves = read_curves(shared_data("rrlyrae", "stripe82_rrlyrae.csv"))
    rng = np.random.default_rng(0)
    train, held = curves[:90], curves[90:120]
    odd = [_odd(c, k, rng) for c, k in zip(curves[120:126], ["constant", "flare"] * 3,
                                            strict=True)]
    cfg = DetectorConfig.from_dict({
        "preprocess": {"mode": "whole", "window": 16, "max_gap": 50},
        "scoring": {"min_calibration_objects": 5}, "train": {"epochs": 3},
        "objects": {"periods": False}})
    det, _ = fit_detector(train, cfg)
    assert "54 light-curve features (periods off)" in det.representation
    res = det.score([*held, *odd])
    y = np.array([c.object_id.startswith(("constant", "flare")) for c in res])
    scores = np.array([c.score for c in res])
    assert np.isfinite(scores).all()
    assert ranking_metrics(y, scores)["roc_auc"] >= 0.85
    det.save(tmp_path / "b")
    again = Detector.load(tmp_path / "b").score([*held, *odd])
    assert_allclose([c.score for c in again], scores, rtol=1e-6)
    assert_allclose([c.p_value for c in again], [c.p_value for c in res])
    enc = Detector.load(tmp_path / "b").encode(odd[:2])
    assert_allclose(enc[0].latent, res[len(held)].latent, rtol=1e-5, atol=1e-6)


def test_reduce_and_point_residuals_match_hand_computed_arrays(tiny_detector):
    """The production path of scoring (reduce_into, point_residuals, the window scorer) on
    reconstructions offset by a known amount: every residual is -c / e (chi2)."""
    from lcad.models.lightcurve import LightCurve
    from lcad.models.point_scores import WindowErrorScorer

    det = tiny_detector
    t = np.arange(80) * det.preprocessor.cadence
    flux = 1.0 + 0.1 * np.sin(t)
    err = np.full(t.size, 0.5)
    p = det.prepare(LightCurve.from_arrays("hand", t, flux, err, emit_warnings=False))
    c = 0.25
    recon = p.xn + c  # model units: every cell off by c
    red = det.reduce(p, recon)
    e = p.errors  # (1, n_grid) normalised errors on the grid
    want_resid = np.where(p.res.mask, -c / e, np.nan)
    assert_allclose(det.point_residuals(p, red), want_resid, rtol=1e-5)
    # each window's error: the mean of its squared residuals
    starts = p.win.starts
    want_werr = [np.mean((c / e[0, s: s + det.window]) ** 2) for s in starts]
    assert_allclose(red.werr, want_werr, rtol=1e-5)
    # the reconstruction sums: every covering window adds its cell
    count = np.array([((starts <= g) & (g < starts + det.window)).sum()
                      for g in range(p.res.n_grid)])
    assert_allclose(red.count, count)
    assert_allclose(red.recon_sum[0], count * (p.xgrid[0] + c), rtol=1e-5)
    # the window scorer: mean of the covering windows' errors
    per_point = [np.mean([w for s, w in zip(starts, want_werr, strict=True)
                          if s <= g < s + det.window]) for g in range(p.res.n_grid)]
    assert_allclose(WindowErrorScorer().grid_scores(det, p, red, None), per_point,
                    rtol=1e-5)


@pytest.mark.parametrize("categorical", [False, True])
def test_the_points_table_of_many_curves_is_theirs_one_after_the_other(scored, tiny_detector,
                                                                       categorical):
    """ScoreResult.points_frame (built column by column) = every curve's own table,
    concatenated; with categoricals, one set of categories in order of appearance; the
    spread columns where a result has them."""
    import pandas as pd
    from pandas.api.types import union_categoricals

    curves, _, result = scored
    for res in (result, tiny_detector.score(curves[:3], samples=2)):
        frames = [c.points_frame(categorical=categorical) for c in res.curves]
        want = pd.concat(frames, ignore_index=True)
        if categorical:
            for col in ("object_id", "band"):
                want[col] = union_categoricals([f[col] for f in frames])
        got = res.points_frame(categorical=categorical)
        pd.testing.assert_frame_equal(got, want)
        assert ("score_std" in got) == (res.curves[0].uncertainty is not None)


def test_the_python_api_takes_one_curve_a_frame_or_an_array_as_well_as_a_list(tiny_detector):
    """`fit`, `score`, `encode`, `reconstruct` take what a notebook has at hand (one
    LightCurve, a long-format DataFrame, a flux array or a time/flux array) and score it as
    the list of LightCurves it stands for; what is none of these is a DataError naming what
    is accepted."""
    import pandas as pd

    from lcad.models.errors import DataError

    (curve,) = synthetic_dataset(1, seed=7, **SYNTH)[0]
    as_list = tiny_detector.score([curve]).curves[0].point_score
    assert curve.flux_err is not None and curve.band is None
    frame = pd.DataFrame({"time": curve.time, "flux": curve.flux, "flux_err": curve.flux_err})
    for given in (curve, frame, np.column_stack([curve.time, curve.flux, curve.flux_err])):
        assert_allclose(tiny_detector.score(given).curves[0].point_score, as_list, rtol=1e-6)
    assert len(tiny_detector.encode(frame)) == len(tiny_detector.reconstruct(curve)) == 1
    evenly = tiny_detector.score(curve.flux).curves[0]  # a flux array: time = the index
    assert_allclose(evenly.time, np.arange(curve.flux.size))
    for bad, says in (("data.csv", "read it with lcad.read_curves"),
                      (np.zeros((4, 5)), r"shape \(4, 5\)"), ({"flux": 1}, "cannot read a dict"),
                      ([curve, 3.0], "mixing LightCurves with float")):
        with pytest.raises(DataError, match=says):
            tiny_detector.score(bad)
    small = Detector.fit(curve.flux[:1200], preprocess={"window": 32}, train={"epochs": 1})
    assert small.calibration is not None and small.bands == ["default"]


@pytest.mark.slow
def test_the_readme_python_block_runs_as_pasted(tmp_path):
    """The README's Python API block, run as a user pastes it (the shared Kepler stars from
    the place it names, the bundle written in the working directory)."""
    from tests.conftest import SHARED_DATA

    text = (ROOT / "README.md").read_text()
    block = text.split("## Python API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert "../shared/data/kepler" in block
    code = block.replace("../shared/data/kepler", str(SHARED_DATA / "kepler"))
    code += "\nassert result.curves and all(c.point_score.size for c in result.curves)\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "bundle" / "model.keras").is_file()


def test_a_notebook_loop_of_fits_and_scores_prints_no_retracing_notice(tmp_path):
    """Three detectors fitted and each scored on four lengths, as a notebook does: TensorFlow
    counted each new network's padded batch sizes as retracing and printed its notice
    (advice about the caller's loop that does not apply) after the second; lcad drops that
    notice only."""
    code = """
import logging, numpy as np, lcad
rng = np.random.default_rng(0)
for k in range(3):
    flux = np.sin(np.arange(600) / 5) + rng.normal(0, 0.1, 600)
    det = lcad.Detector.fit(flux, preprocess={"window": 16}, train={"epochs": 2},
                            model={"hidden": [16], "latent": 2})
    for n in (200, 300, 450, 600):
        det.score(flux[:n])
logging.getLogger("tensorflow").warning("another notice from TensorFlow")
print("done")
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0 and "done" in proc.stdout, proc.stderr[-3000:]
    assert "retracing" not in proc.stderr
    assert "another notice from TensorFlow" in proc.stderr  # the others still pass
