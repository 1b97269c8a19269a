"""Hostile values through the Detector and the readers: a result or a named error, never a
crash, never an infinite or garbage score presented as a number (NaN marks "no score")."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lcad.models.errors import LcadError
from lcad.models.io import read_curves
from lcad.models.lightcurve import LightCurve

HOSTILE_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e30, -1e30, 1e-30, 5e-324, -5e-324, 2.2e-308, 0.0, 1.0, np.nan]),
)


def score_or_named_error(det, **arrays):
    """Build and score one curve; returns the CurveScore or None for a named refusal."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            curve = LightCurve.from_arrays("hostile", **arrays)
            result = det.score([curve])
        except LcadError as exc:
            assert str(exc), "errors must say what is wrong"
            return None
    (c,) = result.curves
    for name in ("point_score", "point_p_value", "reconstruction", "window_error"):
        values = np.asarray(getattr(c, name), dtype=float)
        assert not np.isinf(values).any(), f"{name} has an infinite value"
    p = np.asarray(c.point_p_value, dtype=float)
    assert ((p[np.isfinite(p)] >= 0) & (p[np.isfinite(p)] <= 1)).all()
    assert np.isnan(c.score) or np.isfinite(c.score)
    assert isinstance(c.is_anomalous, bool)
    return c


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 200), flux=st.lists(HOSTILE_FLOATS, min_size=1, max_size=8),
       err=st.one_of(st.none(), st.sampled_from([-1.0, 0.0, np.nan, 1e-30, 1e30])),
       seed=st.integers(0, 2**16))
# found by CI: fluxes near the float64 limit overflowed when the reconstruction was mapped back
@example(n=50, flux=[1.0e307, -1.5e307, 3.0], err=None, seed=0)
@example(n=20, flux=[1.7976931348623157e308, 0.0], err=1e30, seed=1)
def test_hostile_fluxes_and_errors(tiny_detector, n, flux, err, seed):
    rng = np.random.default_rng(seed)
    time = np.sort(rng.uniform(0, n * 0.02, n))
    f = np.resize(np.asarray(flux, dtype=float), n)
    e = None if err is None else np.full(n, err)
    score_or_named_error(tiny_detector, time=time, flux=f, flux_err=e)


@pytest.mark.parametrize("case", ["constant", "single point", "all times equal", "1e30",
                                  "1e-30", "1e200", "denormal", "all nan", "nan errors",
                                  "negative errors", "mixed scales"])
def test_named_hostile_series(tiny_detector, case):
    n = 400
    t = np.arange(n) * 0.02
    f = np.sin(t * 9)
    kw: dict = {}
    if case == "constant":
        f = np.full(n, 3.0)
    elif case == "single point":
        t, f = t[:1], f[:1]
    elif case == "all times equal":
        t = np.zeros(n)
    elif case == "1e30":
        f = f * 1e30
    elif case == "1e200":
        f = f * 1e200
    elif case == "1e-30":
        f = f * 1e-30
    elif case == "denormal":
        f = np.where(f > 0, 5e-324, -5e-324)
    elif case == "all nan":
        f = np.full(n, np.nan)
    elif case == "nan errors":
        kw["flux_err"] = np.full(n, np.nan)
    elif case == "negative errors":
        kw["flux_err"] = -np.ones(n)
    elif case == "mixed scales":
        f = np.where(np.arange(n) % 2, 1e30, 1e-30)
    c = score_or_named_error(tiny_detector, time=t, flux=f, **kw)
    if case in ("single point", "all times equal", "all nan", "nan errors", "negative errors",
                "1e200"):
        assert c is None  # refused with a named error (unusable errors mask their points)
    if case in ("constant", "1e30", "1e-30"):
        assert c is not None and np.isfinite(c.point_score).any()


def test_a_million_points_score_or_are_refused_by_name(tiny_detector):
    n = 1_000_000
    t = np.arange(n) * 0.02
    f = np.sin(t * 9) + np.random.default_rng(0).normal(0, 0.05, n)
    c = score_or_named_error(tiny_detector, time=t, flux=f)
    assert c is not None and c.point_score.size == n


def test_one_band_missing_entirely_is_named(tiny_detector):
    from lcad.models.config import DetectorConfig
    from lcad.models.fit import fit_detector
    from lcad.models.synthetic import synthetic_dataset

    curves, _ = synthetic_dataset(3, seed=2, n_points=400, kinds=("sinusoid",))
    two_band = [LightCurve.from_arrays(c.object_id, np.repeat(c.time, 2),
                                       np.repeat(c.flux, 2), band=np.tile(["g", "r"], c.time.size),
                                       emit_warnings=False) for c in curves]
    det, _ = fit_detector(two_band, DetectorConfig.from_dict(
        {"preprocess": {"window": 16}, "model": {"hidden": [16], "latent": 2},
         "train": {"epochs": 2}}))
    only_g = LightCurve.from_arrays("g-only", curves[0].time, curves[0].flux,
                                    band=["g"] * curves[0].time.size, emit_warnings=False)
    res = det.score([only_g], on_error="skip")
    # a missing band is masked: the curve is scored on the band it has, or named as skipped
    assert res.curves or "g-only" in res.skipped
    for c in res.curves:
        assert not np.isinf(c.point_score).any()


def test_non_utf8_csv_is_read_or_named(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("object_id,time,flux\nétoile,1.0,2.0\nétoile,2.0,3.0\n".encode("latin-1"))
    try:
        curves = read_curves(path)
    except LcadError as exc:
        assert "latin1.csv" in str(exc)
    else:
        assert len(curves) == 1 and curves[0].time.size == 2


def test_binary_garbage_csv_is_named(tmp_path):
    path = tmp_path / "garbage.csv"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(LcadError, match=r"garbage\.csv"):
        read_curves(path)


def test_parquet_with_wrong_types_is_named(tmp_path):
    path = tmp_path / "wrong.parquet"
    pd.DataFrame({"object_id": ["a", "a"], "time": ["yesterday", "today"],
                  "flux": [b"\x00", b"\x01"]}).to_parquet(path)
    with pytest.raises(LcadError, match=r"wrong\.parquet"):
        read_curves(path)


def test_parquet_with_nested_values_is_named(tmp_path):
    path = tmp_path / "nested.parquet"
    pd.DataFrame({"object_id": ["a", "a"], "time": [1.0, 2.0],
                  "flux": [[1.0, 2.0], [3.0]]}).to_parquet(path)
    with pytest.raises(LcadError, match=r"nested\.parquet"):
        read_curves(path)
