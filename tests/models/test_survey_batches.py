"""Whole-curve (survey) objects go through scoring in batches: resampling, normalisation,
the reduction of reconstructions and the Isolation Forest computed for many objects at
once must give exactly what the per-object steps give."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lcad.models.config import DetectorConfig, PreprocessConfig
from lcad.models.fit import fit_detector
from lcad.models.io import read_curves
from lcad.models.lightcurve import LightCurve
from lcad.models.objects import ForestScorer
from lcad.models.preprocess import Preprocessor
from tests.conftest import shared_data


def _same(a: object, b: object, where: str = "") -> None:
    """Equal to the bit: arrays (dtype, shape, values, NaN where NaN), dataclasses field by
    field, everything else by ==."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), where
        assert (a.dtype, a.shape) == (b.dtype, b.shape), where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), where
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def _odd_curves() -> list[LightCurve]:
    """Curves the batch must resample exactly, or leave to the per-curve path."""
    rng = np.random.default_rng(5)
    t = np.sort(rng.uniform(0, 300, 40))
    band = np.where(np.arange(40) % 3, "g", "r")
    flux = 1 + 0.2 * np.sin(t / 5) + rng.normal(0, 0.01, 40)
    err = np.full(40, 0.01)
    flat = np.where(np.arange(40) < 30, 1.0, 1.0 + rng.normal(0, 0.01, 40))  # a flat majority
    masked = flux.copy()
    masked[band == "r"] = np.nan  # a band with no usable point
    on_grid = np.arange(40.0) * 3  # times exactly on grid points and repeated values
    return [
        LightCurve.from_arrays("plain", t, flux, err, band, emit_warnings=False),
        LightCurve.from_arrays("no-errors", t, flux, None, band, emit_warnings=False),
        LightCurve.from_arrays("flat", t, flat, err, band, emit_warnings=False),
        LightCurve.from_arrays("one-band-masked", t, masked, err, band, emit_warnings=False),
        LightCurve.from_arrays("g-only", t, flux, err, np.full(40, "g"), emit_warnings=False),
        LightCurve.from_arrays("on-grid", on_grid, np.round(flux, 1), err, band,
                               emit_warnings=False),
        LightCurve.from_arrays("one-time", np.full(3, 5.0), [1.0, 2.0, 3.0], [0.1] * 3,
                               ["g", "r", "i"], emit_warnings=False),
        LightCurve.from_arrays("odd-band", t, flux, err, np.full(40, "y"),
                               emit_warnings=False),
    ]


@pytest.mark.parametrize("group,cells", [(512, 2 ** 21), (7, 20_000)])
def test_curves_resampled_together_are_resampled_as_each_alone(group, cells, monkeypatch):
    """Real SDSS RR Lyrae (5 bands, sentinels masked) and odd curves, in one group or in
    many small ones (a long curve alone in its own): `resample_whole` gives every array
    `resample` gives, and leaves the curves it cannot take (no errors, one time, an unknown
    band) to the per-curve path, which raises where it must."""
    import lcad.models.preprocess as preprocess

    monkeypatch.setattr(preprocess, "WHOLE_GROUP", group)
    monkeypatch.setattr(preprocess, "WHOLE_CELLS", cells)
    curves = read_curves(shared_data("rrlyrae", "stripe82_rrlyrae.csv"))[:60] + _odd_curves()
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 3000, 2_500))
    curves.insert(30, LightCurve.from_arrays(  # a long curve among short ones
        "long", t, 1 + rng.normal(0, 0.01, t.size), np.full(t.size, 0.01),
        np.where(np.arange(t.size) % 2, "g", "r"), emit_warnings=False))
    pre = Preprocessor.fit(curves[:60], PreprocessConfig(mode="whole", window=32))
    together = pre.resample_whole(curves)
    left = [c.object_id for c, r in zip(curves, together, strict=True) if r is None]
    assert left == ["no-errors", "one-time", "odd-band"]
    for c, r in zip(curves, together, strict=True):
        if r is not None:
            _same(pre.resample(c), r, c.object_id)


def test_whole_curves_prepared_and_reduced_together_as_each_alone():
    """A whole-curve detector prepares a batch (`prepare_many`) and reduces its network
    outputs (`reduce_whole`) into what `prepare` and `reduce` give each curve; an unusable
    curve gets its error in its place."""
    curves = read_curves(shared_data("rrlyrae", "stripe82_rrlyrae.csv"))[:40]
    cfg = DetectorConfig.from_dict({"preprocess": {"mode": "whole", "window": 16},
                                    "train": {"epochs": 2}})
    det, _ = fit_detector(curves[:30], cfg)
    batch = curves[30:] + _odd_curves()[:4]
    prepared = det.prepare_many(batch + _odd_curves()[6:7])
    assert "needs at least two distinct times" in str(prepared[-1])
    prepared = prepared[:-1]
    for c, p in zip(batch, prepared, strict=True):
        alone = det.prepare(c)
        for name in ("offset", "scale", "errors", "valid", "xgrid", "inputs"):
            _same(getattr(alone, name), getattr(p, name), f"{c.object_id}.{name}")
        _same(alone.res, p.res, c.object_id)
        _same(alone.win.band_counts, p.win.band_counts, c.object_id)
        assert alone.win.starts.tolist() == p.win.starts.tolist() == [0]
    z, recon = det.predict_arrays(np.concatenate([p.inputs for p in prepared]))
    prepared[1].valid = np.zeros(1, bool)  # an unusable window adds nothing
    reduced = det.reduce_whole(prepared, recon)
    for k, (p, red) in enumerate(zip(prepared, reduced, strict=True)):
        _same(det.reduce(p, recon[k: k + 1]), red, p.curve.object_id)
    # ... and finished together (`finish_whole`) as each alone, with the object model's
    # verdicts and without them, at the calibrated threshold and at another one
    outputs = [(z[k: k + 1], red) for k, red in enumerate(reduced)]
    for objects in (det.objects, None):
        det.objects = objects
        for threshold in (None, 2.0):
            together = det.finish_whole(prepared, outputs, threshold)
            for p, (zz, red), c in zip(prepared, outputs, together, strict=True):
                _same(det.finish_score_reduced(p, zz, red, threshold), c, p.curve.object_id)


@pytest.mark.parametrize("n_ref,dim,max_features", [(500, 23, 1.0), (40, 5, 1.0),
                                                     (300, 6, 0.5)])
def test_the_forest_walked_for_all_rows_at_once_scores_as_scikit_learn(n_ref, dim,
                                                                       max_features):
    """`ForestScorer` gives IsolationForest's `-score_samples` to the bit, for more rows
    than one block; a forest of feature subsets, or rows that are not finite, go to
    scikit-learn itself."""
    from sklearn.ensemble import IsolationForest

    rng = np.random.default_rng(n_ref)
    ref = rng.normal(size=(n_ref, dim))
    forest = IsolationForest(n_estimators=100, random_state=1, max_features=max_features
                             ).fit(ref)
    rows = np.concatenate([2 * rng.normal(size=(700, dim)), ref[:20]])
    scorer = ForestScorer(forest)
    np.testing.assert_array_equal(scorer.scores(rows), -forest.score_samples(rows))
    rows[3, 1] = np.nan
    np.testing.assert_array_equal(scorer.scores(rows), -forest.score_samples(rows))


def test_random_passes_of_whole_curves_are_finished_in_batches(monkeypatch):
    """`score(samples=N)` on survey objects finishes every pass as the deterministic score
    does (`finish_whole`, never object by object): with a pass that is not random, each
    object's mean over the passes is its deterministic answer and the spread is 0."""
    from lcad.models.detector import Detector

    curves = read_curves(shared_data("rrlyrae", "stripe82_rrlyrae.csv"))[:40]
    cfg = DetectorConfig.from_dict({"preprocess": {"mode": "whole", "window": 16},
                                    "train": {"epochs": 2}})
    det, _ = fit_detector(curves[:30], cfg)
    plain = det.score(curves[30:])

    class SamePass:  # the deterministic network, dressed as a random pass
        sources = ["none (test)"]

        def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return det.network(batch)

    monkeypatch.setattr(det, "stochastic_network", lambda samples, seed=None: SamePass())

    def per_object(*_a: object, **_k: object) -> None:
        raise AssertionError("a random pass finished object by object")

    monkeypatch.setattr(Detector, "finish_score_reduced", per_object)
    sampled = det.score(curves[30:], samples=3)
    assert len(sampled) == len(plain) == 10
    for a, b in zip(plain, sampled, strict=True):
        u = b.uncertainty
        assert u is not None and u.samples == 3 and u.sources == ["none (test)"]
        assert b.score == a.score and u.score_mean == pytest.approx(a.score) \
            and u.score_std == pytest.approx(0, abs=1e-12)
        np.testing.assert_allclose(u.point_score_mean, a.point_score, rtol=1e-12)
        assert np.nanmax(u.point_score_std) == pytest.approx(0, abs=1e-12)
