"""Point scorers behind one protocol: the auto rule, the registry, a toy scorer end to end."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from lcad.models.config import DetectorConfig
from lcad.models.detector import Detector
from lcad.models.errors import BundleError, ConfigError
from lcad.models.point_scores import (
    POINT_SCORERS,
    PointScorer,
    choose_point_method,
    register_point_scorer,
)
from lcad.models.synthetic import synthetic_dataset
from tests.conftest import SYNTH, TINY_CONFIG


@pytest.mark.parametrize(("requested", "lag1", "repeats", "reference", "want"), [
    ("auto", 0.02, 0.0, True, "scan"),       # white residuals, noisy data: the scan
    ("auto", -0.08, 0.49, True, "scan"),     # just inside both limits
    ("auto", 0.35, 0.0, True, "novelty"),    # structured residuals
    ("auto", -0.2, 0.0, True, "novelty"),    # the size of the correlation counts, not its sign
    ("auto", 0.0, 0.5, True, "novelty"),     # half the values repeat: no noise to scan
    ("auto", 0.35, 0.9, False, "scan"),      # nothing to compare with: the scan
    ("auto", None, None, True, "scan"),      # nothing measured
    ("window", 0.9, 0.9, True, "window"),    # a request stands
    ("scan", 0.9, 0.9, True, "scan"),
])
def test_auto_rule(requested, lag1, repeats, reference, want):
    assert choose_point_method(requested, lag1, repeats, reference) == want


class AbsResidual(PointScorer):
    """A toy: the largest absolute residual over the bands, over a scale fitted on held-out
    data (its 0.9 quantile), saved in calibration.json."""

    name = "toy_abs_residual"

    def __init__(self, unit: float | None = None):
        self.unit = unit

    def fit(self, det, held_out, reference):
        raw = np.concatenate([self._raw(det, p, red) for p, _z, red in held_out])
        self.unit = float(np.nanquantile(raw, 0.9))
        return np.concatenate([self.grid_scores(det, p, red, z) for p, z, red in held_out])

    @staticmethod
    def _raw(det, p, red):
        return np.nanmax(np.abs(det.point_residuals(p, red)), axis=0)

    def grid_scores(self, det, p, red, z, ref_curve=None):
        return self._raw(det, p, red) / self.unit

    def calibration_state(self):
        return {"toy_unit": self.unit}

    @classmethod
    def load(cls, bundle_dir, calibration):
        return cls(calibration["toy_unit"])


@pytest.fixture()
def toy_registered():
    register_point_scorer(AbsResidual)
    yield AbsResidual
    POINT_SCORERS.pop(AbsResidual.name)


def test_a_registered_scorer_is_one_class_and_one_config_value(toy_registered, tmp_path):
    curves, _ = synthetic_dataset(12, seed=3, **SYNTH)
    det = Detector.fit(curves, TINY_CONFIG, train={"epochs": 3},
                       scoring={"point": "toy_abs_residual"})
    assert det.point_method == "toy_abs_residual" and isinstance(det.point_scorer, AbsResidual)
    res = det.score(curves[:2])
    c, p = res.curves[0], det.prepare(curves[0])
    ((_z, red),) = det._run_reduced([p])
    want = np.nanmax(np.abs(det.point_residuals(p, red)), axis=0) / det.point_scorer.unit
    got = np.where(curves[0].mask, want[p.res.point_grid], np.nan)
    assert_allclose(c.point_score, got)
    # the threshold is the calibrated quantile of the toy's own held-out scores
    assert det.calibration.point_threshold > 0
    det.save(tmp_path / "b")
    again = Detector.load(tmp_path / "b")
    assert again.point_scorer.unit == det.point_scorer.unit
    assert_allclose(again.score(curves[:2]).curves[0].point_score, c.point_score)
    # a bundle whose scorer is not registered where it is loaded says what to do
    POINT_SCORERS.pop(AbsResidual.name)
    try:
        with pytest.raises(BundleError, match="'toy_abs_residual' is not known here"):
            Detector.load(tmp_path / "b")
    finally:
        register_point_scorer(AbsResidual)


def test_unknown_point_score_in_the_config_is_named():
    with pytest.raises(ConfigError, match=r"scoring\.point .nope. is not a point score"):
        DetectorConfig.from_dict({"scoring": {"point": "nope"}})
    with pytest.raises(ValueError, match="other than 'auto'"):
        register_point_scorer(type("Auto", (AbsResidual,), {"name": "auto"}))


def test_scan_cover_is_wired_from_the_config_through_the_bundle(tmp_path):
    from lcad.models.scoring import scan_scores

    curves, _ = synthetic_dataset(12, seed=3, **SYNTH)
    det = Detector.fit(curves, TINY_CONFIG, train={"epochs": 3},
                       scoring={"point": "scan", "scan_cover": True})
    scfg = det.config.scoring
    assert det.point_method == "scan" and scfg.scan_cover
    c, p = det.score(curves[:1]).curves[0], det.prepare(curves[0])
    ((_z, red),) = det._run_reduced([p])
    residual = det.point_residuals(p, red)
    # the scatter expected at the reconstruction's slope (`scan_scatter`)
    scatter = det.point_scorer.scatter_at(det, p, red)
    tables = det.point_scorer.tables
    # the segments' table, the oscillations' and the quiet runs' (no flanks: off by default)
    assert not scfg.scan_flanks and scfg.scan_segments and scfg.scan_oscillations == 24
    assert scfg.scan_quiet == 24
    assert len(tables) == len(scfg.scales) + 3
    base = det.point_scorer.baseline  # the running median, where the residuals are red
    grid = scan_scores(residual, scfg.scales, scfg.scan_clip, tables, cover=True,
                       segments=True, oscillations=24, quiet=24, baseline=base,
                       scale=scatter)
    assert_allclose(c.point_score, np.where(curves[0].mask, grid[p.res.point_grid], np.nan))
    centred = scan_scores(residual, scfg.scales, scfg.scan_clip, tables,
                          segments=True, oscillations=24, quiet=24, baseline=base,
                          scale=scatter)
    assert (grid[np.isfinite(grid)] >= centred[np.isfinite(grid)] - 1e-12).all()
    det.save(tmp_path / "b")
    again = Detector.load(tmp_path / "b")
    assert again.config.scoring.scan_cover
    assert_allclose(again.score(curves[:1]).curves[0].point_score, c.point_score)


@pytest.mark.parametrize("missing", [
    ("scan_flanks", "scan_segments", "scan_oscillations", "segment_moves", "scan_tail_bound",
     "scan_quiet"),
    ("scan_segments", "scan_oscillations", "segment_moves", "scan_tail_bound", "scan_quiet"),
    ("scan_oscillations", "segment_moves", "scan_tail_bound", "scan_quiet"),
    ("segment_moves", "scan_tail_bound", "scan_quiet"),
    ("scan_tail_bound", "scan_quiet"),
    ("scan_quiet",)])
def test_a_bundle_from_before_a_scan_row_scores_as_it_was_calibrated(tmp_path, missing):
    """A bundle saved before `scoring.scan_flanks` (or `scan_segments`, `scan_oscillations`,
    `scan_quiet`)
    holds a table per row it had and no key for the later ones: it loads without them and
    scores as before; one saved before `segment_moves` keeps segments of one level, as its
    segment row was calibrated, and one saved before `scan_tail_bound` its unbounded tails
    (for a new calibration; its tables are saved); one saved while the flanks were on by
    default (sessions 28-30) keeps them; a new one has every row but the flanks."""
    import json

    curves, _ = synthetic_dataset(12, seed=3, **SYNTH)
    det = Detector.fit(curves, TINY_CONFIG, train={"epochs": 3},
                       scoring={"point": "scan", "scan_flanks": True,
                                **dict.fromkeys(missing, 0)})
    rows = [key for key in missing if key not in ("segment_moves", "scan_tail_bound")]
    assert len(det.point_scorer.tables) == len(det.config.scoring.scales) + 4 - len(rows)
    before = det.score(curves[:2])
    det.save(tmp_path / "old")
    meta_file = tmp_path / "old" / "config.json"
    meta = json.loads(meta_file.read_text())
    for key in missing:
        del meta["config"]["scoring"][key]
    del meta["config"]["model"]["segment_offsets"]  # trained before the offsets: says so
    meta_file.write_text(json.dumps(meta))
    old = Detector.load(tmp_path / "old")
    assert not any(getattr(old.config.scoring, key) for key in missing)
    assert old.config.scoring.scan_flanks == ("scan_flanks" not in missing)
    assert old.config.model.segment_offsets == 0
    for a, b in zip(old.score(curves[:2]).curves, before.curves, strict=True):
        assert_allclose(a.point_score, b.point_score)
    new = Detector.fit(curves, TINY_CONFIG, train={"epochs": 3}, scoring={"point": "scan"})
    new.save(tmp_path / "new")
    again = Detector.load(tmp_path / "new")
    scfg = again.config.scoring
    assert not scfg.scan_flanks and scfg.scan_segments and scfg.scan_oscillations == 24
    assert scfg.segment_moves == 0.5 and scfg.scan_tail_bound and scfg.scan_quiet == 24
    assert len(again.point_scorer.tables) == len(scfg.scales) + 3
    assert again.config.model.segment_offsets == 0.5


def test_segment_length_sets_the_segment_rows_prior_and_old_bundles_keep_their_largest_scale(
        tmp_path):
    """`scoring.segment_length` (session 40) is the segment row's mean segment length, which
    until then was the largest of `scales`: a bundle saved before it, with scales up to 32,
    loads with segments of 32 and scores as it was calibrated; the key changes the row."""
    import json

    from lcad.models.scoring import scan_statistics

    curves, _ = synthetic_dataset(12, seed=3, **SYNTH)
    det = Detector.fit(curves, TINY_CONFIG, train={"epochs": 3},
                       scoring={"point": "scan", "scales": [1, 4, 32], "segment_length": 32})
    before = det.score(curves[:2])
    det.save(tmp_path / "old")
    meta_file = tmp_path / "old" / "config.json"
    meta = json.loads(meta_file.read_text())
    del meta["config"]["scoring"]["segment_length"]
    meta_file.write_text(json.dumps(meta))
    old = Detector.load(tmp_path / "old")
    assert old.config.scoring.segment_length == 32
    for a, b in zip(old.score(curves[:2]).curves, before.curves, strict=True):
        assert_allclose(a.point_score, b.point_score)
    assert DetectorConfig().scoring.segment_length == 16 == max(DetectorConfig().scoring.scales)
    r = np.random.default_rng(0).normal(size=(1, 2000))
    r[0, 1000:1400] *= 1.6  # a long stretch of larger noise
    seg = {n: scan_statistics(r, [1, 4, 16], segments=True, segment_length=n)[-1]
           for n in (None, 16, 64)}
    assert_allclose(seg[None], seg[16])
    assert np.median(seg[64][1050:1350]) > np.median(seg[16][1050:1350])


def test_a_held_value_is_the_top_of_the_scan_by_default_and_not_without_the_quiet_row():
    """A sensor stuck for 48 points close to the curve's level (a value held where the
    star's noise goes on elsewhere): by default the scan's quiet row puts the curve's
    strongest points there and flags an interval over it; recalibrated without the row
    (`scoring.scan_quiet=0`, as bundles from before it), nothing there stands out."""
    from lcad.models.fit import calibration_curves, split_curves
    from lcad.models.lightcurve import LightCurve

    rng = np.random.default_rng(5)
    t = np.arange(3000) * 0.02
    curves = [LightCurve.from_arrays(f"s{i}", t, 0.3 * np.sin(2 * np.pi * t / 7.3 + i)
                                     + rng.normal(0, 0.1, t.size), emit_warnings=False)
              for i in range(4)]
    det = Detector.fit(curves, TINY_CONFIG, scoring={"point": "scan"})
    assert det.config.scoring.scan_quiet == 24
    flux = 0.3 * np.sin(2 * np.pi * t / 7.3 + 9) + rng.normal(0, 0.1, t.size)
    flux[1500:1548] = 0.3 * np.sin(2 * np.pi * t[1500] / 7.3 + 9)  # held
    stuck = LightCurve.from_arrays("stuck", t, flux, emit_warnings=False)
    got = det.score([stuck]).curves[0]
    top = np.argsort(-np.nan_to_num(got.point_score, nan=-np.inf))[:10]
    assert ((top >= 1500) & (top < 1548)).all(), top
    assert any(i.start <= t[1520] <= i.end for i in got.intervals), got.intervals
    scfg = det.config.scoring
    cal, _ = calibration_curves(det, split_curves(curves, det.config), curves)
    det.config = det.config.model_copy(
        update={"scoring": scfg.model_copy(update={"scan_quiet": 0})})
    det.calibrate(cal, curves)
    assert len(det.point_scorer.tables) == len(scfg.scales) + 2
    without = det.score([stuck]).curves[0].point_score
    assert np.nanmax(without[1510:1538]) < np.nanquantile(without, 0.99)


def test_the_scans_baseline_follows_the_held_out_residuals_and_is_saved(tmp_path):
    """`scoring.scan_baseline` is used where the held-out residuals are red at its length
    (`scan_baseline_red`), kept in the bundle's calibration with the ratio that chose it;
    a bundle from before it scores its runs without one; a length within the scales is
    refused by name."""
    import json

    from lcad.models.bundle import sha256

    curves, _ = synthetic_dataset(12, seed=3, **SYNTH)
    always = Detector.fit(curves, TINY_CONFIG, train={"epochs": 3},
                          scoring={"point": "scan", "scan_baseline_red": 0.0})
    scorer = always.point_scorer
    assert scorer.baseline == 64 and scorer.red is not None and scorer.red > 0
    never = Detector.fit(curves, TINY_CONFIG, train={"epochs": 3},
                         scoring={"point": "scan", "scan_baseline_red": 1e9})
    assert never.point_scorer.baseline == 0 and never.point_scorer.red == scorer.red
    a, b = (d.score(curves[:1]).curves[0].point_score for d in (always, never))
    assert not np.allclose(a[np.isfinite(a)], b[np.isfinite(b)])
    always.save(tmp_path / "b")
    cal = json.loads((tmp_path / "b" / "calibration.json").read_text())
    assert cal["scan_baseline"] == 64 and cal["residual_red"] == pytest.approx(scorer.red)
    assert_allclose(Detector.load(tmp_path / "b").score(curves[:1]).curves[0].point_score, a)
    del cal["scan_baseline"], cal["residual_red"]  # saved before the key
    (tmp_path / "b" / "calibration.json").write_text(json.dumps(cal))
    meta = json.loads((tmp_path / "b" / "config.json").read_text())
    meta["files"]["calibration.json"] = sha256(tmp_path / "b" / "calibration.json")
    del meta["config"]["scoring"]["scan_baseline"]
    (tmp_path / "b" / "config.json").write_text(json.dumps(meta))
    assert Detector.load(tmp_path / "b").point_scorer.baseline == 0
    with pytest.raises(ConfigError, match="scan_baseline"):
        DetectorConfig().with_overrides(["scoring.scan_baseline=16"])


def test_the_scans_scatter_curves_are_fitted_on_held_out_residuals_and_saved(tmp_path):
    """`scoring.scan_scatter`: the scan fits how the held-out residuals' scatter grows with
    the reconstruction's slope and depth (eclipses a 3-epoch network follows loosely),
    divides each residual by it, keeps the curves in the bundle's calibration; `=0` and a
    bundle from before the key score every point alike; one bin is refused by name; on a
    sinusoid the slope's curve stays flat (its depth's does not: a network that has not
    converged reconstructs the crests too shallow)."""
    import json

    from lcad.models.bundle import sha256

    curves, _ = synthetic_dataset(12, seed=3, **(SYNTH | {"kinds": ("eclipsing",)}))
    det = Detector.fit(curves, TINY_CONFIG, train={"epochs": 3},
                       scoring={"point": "scan", "scan_scatter_by": ["slope", "depth"]})
    scatter = det.point_scorer.scatter
    assert set(scatter) == {"slope", "depth"}
    assert list(DetectorConfig().scoring.scan_scatter_by) == ["slope"]  # the default
    assert max(c.gain for c in scatter.values()) > 1.2
    for key, curve in scatter.items():
        assert det.metrics[f"residual_{key}_gain"] == pytest.approx(curve.gain)
    off = Detector.fit(curves, TINY_CONFIG, train={"epochs": 3},
                       scoring={"point": "scan", "scan_scatter": 0})
    assert off.point_scorer.scatter == {} and "residual_slope_gain" not in off.metrics
    on_scores = det.score(curves[:1]).curves[0].point_score
    det.save(tmp_path / "b")
    cal = json.loads((tmp_path / "b" / "calibration.json").read_text())
    assert cal["scan_scatter"]["slope"]["scales"] == pytest.approx(scatter["slope"].scales)
    assert_allclose(Detector.load(tmp_path / "b").score(curves[:1]).curves[0].point_score,
                    on_scores)
    del cal["scan_scatter"]  # saved before the key
    (tmp_path / "b" / "calibration.json").write_text(json.dumps(cal))
    meta = json.loads((tmp_path / "b" / "config.json").read_text())
    meta["files"]["calibration.json"] = sha256(tmp_path / "b" / "calibration.json")
    del meta["config"]["scoring"]["scan_scatter"]
    (tmp_path / "b" / "config.json").write_text(json.dumps(meta))
    old = Detector.load(tmp_path / "b")
    assert old.point_scorer.scatter == {} and old.config.scoring.scan_scatter == 0
    flat = old.score(curves[:1]).curves[0].point_score
    assert not np.allclose(flat[np.isfinite(flat)], on_scores[np.isfinite(on_scores)])
    with pytest.raises(ConfigError, match="scan_scatter"):
        DetectorConfig().with_overrides(["scoring.scan_scatter=1"])
    smooth, _ = synthetic_dataset(12, seed=3, **SYNTH)
    calm = Detector.fit(smooth, TINY_CONFIG, train={"epochs": 3}, scoring={"point": "scan"})
    assert calm.point_scorer.scatter["slope"].gain < 1.2


@pytest.mark.parametrize("kind", ["global", "contextual", "shapelet", "seasonal", "trend"])
def test_bench_auto_injections_change_only_the_span_they_report(kind):
    """bench.auto_injection (session 46: the point score chosen by injected anomalies, not
    kept) injects each of Lai et al.'s five kinds inside the span it reports, and leaves the
    curve it copies alone."""
    from bench.auto_injection import inject
    from lcad.models.lightcurve import LightCurve

    t = np.arange(600, dtype=float)
    flux = np.sin(2 * np.pi * t / 40) + np.random.default_rng(3).normal(0, 0.1, t.size)
    curve = LightCurve.from_arrays("s", t, flux, emit_warnings=False)
    before = curve.flux.copy()
    copy, (t0, t1) = inject(curve, 64, kind, np.random.default_rng(0))
    changed = t[copy.flux != curve.flux]
    assert changed.size >= 1 and changed.min() >= t0 and changed.max() <= t1
    assert t1 - t0 == (0 if kind in ("global", "contextual") else 63)
    assert np.array_equal(curve.flux, before)
    assert inject(curve.slice_time(0, 100), 64, kind, np.random.default_rng(0)) is None
