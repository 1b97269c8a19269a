"""The one frame -> curves path: columns by role, a repairing mode and a strict mode."""

import numpy as np
import pandas as pd
import pytest

from lcad.models.errors import DataError
from lcad.models.frames import curves_from_frame

FRAME = pd.DataFrame({"ID": ["b", "a", "b", "a"], "MJD": [2.0, 1.0, 1.0, 0.0],
                      "Flux": [1.0, np.nan, 3.0, 4.0]})


def test_repairing_mode_groups_sorts_masks_and_reports():
    a, b = sorted(curves_from_frame(FRAME), key=lambda c: c.object_id)
    assert (a.object_id, b.object_id) == ("a", "b")
    assert a.time.tolist() == [0.0, 1.0] and a.mask.tolist() == [True, False]
    assert any("non-finite flux" in w for w in a.warnings)
    assert b.time.tolist() == [1.0, 2.0] and b.flux.tolist() == [3.0, 1.0]
    assert any("not sorted" in w for w in b.warnings)


def test_strict_mode_names_the_object_and_the_value():
    with pytest.raises(DataError, match=r"body: light curve 'b', time: times are not sorted"):
        curves_from_frame(FRAME, "body", strict=True)
    clean = FRAME.sort_values(["ID", "MJD"])
    with pytest.raises(DataError, match=r"light curve 'a', flux\[1\]: is NaN"):
        curves_from_frame(clean, "body", strict=True)
    ok = curves_from_frame(clean.fillna(2.0), "body", strict=True)
    assert [len(c) for c in ok] == [2, 2] and not any(c.warnings for c in ok)


def test_columns_are_found_by_role_or_named():
    with pytest.raises(DataError, match=r"no flux column; columns are \['t', 'v'\]"):
        curves_from_frame(pd.DataFrame({"t": [1.0], "v": [1.0]}))
    (c,) = curves_from_frame(pd.DataFrame({"t": [1.0, 2.0], "v": [1.0, 2.0]}),
                             columns={"flux": "v"})
    assert c.object_id == "series" and c.flux.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("columns, expected", [
    (["oid", "hjd", "mjd", "mag", "magerr", "filtercode"],  # ZTF (IRSA)
     ("oid", "mjd", "mag", "magerr", "filtercode", "mag")),
    (["i:objectId", "i:jd", "i:magpsf", "i:sigmapsf", "i:fid"],  # Fink
     ("i:objectId", "i:jd", "i:magpsf", "i:sigmapsf", "i:fid", "mag")),
    (["MasterID", "Mag", "Magerr", "RA", "Dec", "MJD", "Blend"],  # CRTS
     ("MasterID", "MJD", "Mag", "Magerr", None, "mag")),
    (["SNID", "MJD", "FLT", "FLUXCAL", "FLUXCALERR"],  # SNANA
     ("SNID", "MJD", "FLUXCAL", "FLUXCALERR", "FLT", "flux")),
    (["diaObjectId", "midpointMjdTai", "band", "psfFlux", "psfFluxErr"],  # LSST
     ("diaObjectId", "midpointMjdTai", "psfFlux", "psfFluxErr", "band", "flux")),
    (["HJD", "Camera", "mag", "mag_err", "flux(mJy)", "flux_err", "Filter"],  # ASAS-SN
     (None, "HJD", "mag", "mag_err", "Filter", "mag")),
    (["HJD", "mag", "flux_err"], (None, "HJD", "mag", None, None, "mag")),  # not its unit
])
def test_survey_tables_are_read_by_their_own_column_names(columns, expected):
    """The surveys' own names need no flags; magnitudes never take a flux error column."""
    from lcad.models.frames import resolve_columns

    c = resolve_columns("f.csv", columns)
    assert (c.object_id, c.time, c.flux, c.flux_err, c.band, c.unit) == expected


def test_a_file_of_several_objects_without_an_object_column_says_how_to_name_it():
    """Two objects' rows under unrecognised id column: their times repeat, and the repairs
    (CLI) or the refusal (service) say which column names are recognised and how to name one."""
    frame = pd.DataFrame({"CatalogNum": [7, 7, 9, 9], "MJD": [1.0, 2.0, 1.0, 2.0],
                          "Mag": [18.0, 18.1, 17.0, 17.2]})
    (c,) = curves_from_frame(frame)
    assert any("merged 2 point(s) with a duplicate time" in w for w in c.warnings)
    assert "no object id column was recognised (columns are ['CatalogNum', 'MJD', 'Mag']" \
        in c.warnings[-1] and "--object-id-column" in c.warnings[-1]
    with pytest.raises(DataError, match=r"times are not sorted .*no object id column was "
                                        r"recognised .*'masterid'"):
        curves_from_frame(frame, "body", strict=True)
    (a, b) = curves_from_frame(frame, columns={"object_id": "CatalogNum"})
    assert (a.object_id, b.object_id, a.warnings, b.warnings) == ("7", "9", [], [])
    (one,) = curves_from_frame(frame.iloc[:2])  # one object: nothing to hint at
    assert one.warnings == []
    # one series whose clock repeats a few times (NAB's daylight-saving hours): merged and
    # said, without the hint of several objects
    t = np.arange(200.0)
    clock = pd.DataFrame({"timestamp": np.r_[t, t[50:53]], "value": np.r_[t, t[50:53]] * 0.1})
    (single,) = curves_from_frame(clock)
    assert any("merged 3 point(s) with a duplicate time" in w for w in single.warnings)
    assert not any("no object id column" in w for w in single.warnings)


def test_the_service_imports_nothing_from_training_and_training_nothing_from_the_service():
    from tests.conftest import ROOT

    for folder, forbidden in (("service", "lcad.training"), ("training", "lcad.service"),
                              ("models", "lcad.training"), ("models", "lcad.service")):
        users = [p.name for p in (ROOT / folder).rglob("*.py") if forbidden in p.read_text()]
        assert not users, f"{folder}/ imports {forbidden}: {users}"


def test_an_empty_error_column_means_no_errors():
    """A table written with an empty flux_err column (the demo's evaluation CSV) is read as
    curves without errors, not as curves whose every point is masked."""
    frame = pd.DataFrame({"object_id": ["a"] * 3, "time": [0.0, 1.0, 2.0],
                          "flux": [1.0, 2.0, 3.0], "flux_err": [np.nan] * 3})
    (c,) = curves_from_frame(frame)
    assert c.flux_err is None and c.mask.all() and not c.warnings
    frame.loc[1, "flux_err"] = 0.1  # a partly filled column is kept (and repaired)
    (c,) = curves_from_frame(frame)
    assert c.flux_err is not None and c.mask.tolist() == [False, True, False]


def _object(oid: str, t: list[float], f: list[float], e: list[float], b: list[str]
            ) -> pd.DataFrame:
    return pd.DataFrame({"object_id": oid, "time": t, "flux": f, "flux_err": e, "band": b})


@pytest.mark.parametrize("unit", ["flux", "mag"])
def test_objects_built_together_are_the_curves_from_arrays_builds(unit):
    """`frame_to_curves` builds the objects with nothing to repair all at once
    (`clean_curves`); every curve, clean or repaired, equals `LightCurve.from_arrays` of
    its rows in file order: arrays, mask, band labels, repairs, unit."""
    from lcad.models.lightcurve import LightCurve

    t, g = [1.0, 2.0, 3.0, 4.0], ["g", "r", "g", "r"]
    parts = [
        _object("clean", t, [15.0, 15.2, 15.1, 15.3], [0.1] * 4, g),
        _object("bands-one-after-the-other", [1.0, 3.0, 2.0, 4.0], [15.0, 15.1, 15.2, 15.3],
                [0.1] * 4, ["g", "g", "r", "r"]),
        _object("same-time-two-bands", [1.0, 1.0, 2.0, 2.0], [15.0, 15.2, 15.1, 15.3],
                [0.1] * 4, g),
        _object("repeated-time", [1.0, 1.0, 2.0, 3.0], [15.0, 15.2, 15.1, 15.3], [0.1] * 4,
                ["g"] * 4),
        _object("unsorted-band", [2.0, 1.0, 3.0, 4.0], [15.0, 15.2, 15.1, 15.3], [0.1] * 4,
                ["g"] * 4),
        _object("nan-time", [1.0, np.nan, 3.0, 4.0], [15.0, 15.2, 15.1, 15.3], [0.1] * 4, g),
        _object("nan-flux", t, [15.0, np.nan, 15.1, 15.3], [0.1] * 4, g),
        _object("bad-error", t, [15.0, 15.2, 15.1, 15.3], [0.1, 0.0, -1.0, np.nan], g),
        _object("sentinel", t, [15.0, 100.011, 15.1, 15.3], [0.1, 99.999, 0.1, 0.1], g),
        _object("huge", t, [15.0, 1e120, 15.1, 15.3], [0.1] * 4, g),
    ]
    frame = pd.concat(parts, ignore_index=True).rename(
        columns={"flux": unit, "flux_err": "magerr" if unit == "mag" else "flux_err"})
    split = frame.iloc[:2].assign(object_id="split")  # an object's rows apart in the file
    frame = pd.concat([split.iloc[:1], frame, split.iloc[1:]], ignore_index=True)
    curves = curves_from_frame(frame, unit=unit)
    assert len(curves) == 11
    for c in curves:
        rows = frame[frame.object_id == c.object_id]
        ref = LightCurve.from_arrays(c.object_id, rows.time, rows[unit], rows.iloc[:, 3],
                                     rows.band, unit=unit, emit_warnings=False)
        for name in ("time", "flux", "flux_err", "band", "mask"):
            np.testing.assert_array_equal(getattr(c, name), getattr(ref, name),
                                          err_msg=f"{c.object_id}.{name}")
            assert getattr(c, name).dtype == getattr(ref, name).dtype, (c.object_id, name)
        assert (c.warnings, c.unit) == (ref.warnings, ref.unit), c.object_id
    assert not next(c for c in curves if c.object_id == "bands-one-after-the-other").warnings


def test_a_quality_column_masks_its_flagged_points_in_every_mode():
    """Kepler / TESS tables (and lightkurve's CSV) carry `quality`, ZTF's `catflags`: a
    non-zero flag masks the point, reported with the column's name, as the FITS reader
    masks QUALITY; the service's strict mode masks it too (a flag is the data's own verdict,
    not a repair to refuse); objects with no flag are untouched."""
    frame = pd.DataFrame({"object_id": ["a"] * 6 + ["b"] * 3,
                          "time": [0.0, 1, 2, 3, 4, 5, 0, 1, 2],
                          "flux": [1.0, 2, 50, 3, 4, 5, 1, 2, 3],
                          "SAP_QUALITY": [0, 0, 128, 0, 0, 0, 0, 0, 0]})
    for strict in (False, True):
        a, b = curves_from_frame(frame, "t.csv", strict=strict)
        assert a.mask.tolist() == [True, True, False, True, True, True]
        assert any("masked 1 point(s) flagged in column 'SAP_QUALITY' (non-zero)" in w
                   for w in a.warnings)
        assert not any("non-finite" in w for w in a.warnings)  # counted once, as flagged
        assert b.mask.all() and not b.warnings
    # without the column the 50 is kept
    a, _b = curves_from_frame(frame.drop(columns="SAP_QUALITY"))
    assert a.mask.all()


def ztf_variable(rng_seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A variable star's ZTF alerts: difference magnitudes (magpsf, the size of the flux
    difference from the reference), their sign (isdiffpos t / f); and its true magnitudes."""
    rng = np.random.default_rng(rng_seed)
    t = np.sort(rng.uniform(0, 300, 80))
    true = 17.0 + 0.3 * np.sin(2 * np.pi * t / 13.7)
    diff = 10 ** (-0.4 * true) - 10 ** (-0.4 * 17.0)
    frame = pd.DataFrame({"objectId": "ZTF18var", "jd": t + 2459000.5, "fid": 1,
                          "magpsf": -2.5 * np.log10(np.abs(diff)), "sigmapsf": 0.05,
                          "isdiffpos": np.where(diff > 0, "t", "f")})
    return frame, true


def test_ztf_difference_magnitudes_become_apparent_or_their_fadings_are_masked(tmp_path):
    """ZTF's magpsf is the size of the difference from the reference image; on a variable
    star about half the alerts are fadings (isdiffpos f), which read as magnitudes would be
    brightenings. With the reference's magnitude (magnr within 1.4", ALeRCE's correction) or
    ALeRCE's own magpsf_corr the curve is the star's; without, the fadings are masked and
    said; in the service's strict mode alike; the columns line says what is done."""
    from lcad.models.io import column_summary
    from lcad.models.lightcurve import MAG_ZERO_POINT

    frame, true = ztf_variable()
    fading = (frame["isdiffpos"] == "f").to_numpy()
    def mags(c):
        return MAG_ZERO_POINT - 2.5 * np.log10(c.flux[c.mask])

    for strict in (False, True):
        (c,) = curves_from_frame(frame, "alerts.csv", strict=strict)
        assert c.mask.tolist() == (~fading).tolist()
        assert c.warnings == [f"masked {fading.sum()} point(s) with isdiffpos false (a "
                              "negative difference: magpsf then measures a fading; no "
                              "reference flux to make it an apparent magnitude)"]
        with_ref = frame.assign(magnr=17.0, distnr=0.3)
        (c,) = curves_from_frame(with_ref, "alerts.csv", strict=strict)
        assert c.mask.all() and not c.warnings
        np.testing.assert_allclose(mags(c), true, atol=1e-9)
        alerce = frame.assign(magpsf_corr=true, sigmapsf_corr_ext=0.01, corrected="t")
        (c,) = curves_from_frame(alerce, "alerts.csv", strict=strict)
        assert c.mask.all() and not c.warnings
        np.testing.assert_allclose(mags(c), true, atol=1e-9)
    # a reference source 3" away is another object: no correction, the fadings masked
    (c,) = curves_from_frame(frame.assign(magnr=17.0, distnr=3.0))
    assert c.mask.tolist() == (~fading).tolist()
    # ALeRCE did not correct (the object is not in the reference): magpsf as it is
    (c,) = curves_from_frame(frame.assign(magpsf_corr=true, corrected=False))
    assert c.mask.tolist() == (~fading).tolist()
    # a quality flag, non-detections and fadings on one object: each said, each point
    # counted once (under the first reason that holds it)
    first3 = np.arange(len(frame)) < 3
    flagged = frame.assign(catflags=np.where(first3, 32768, 0), diffmaglim=20.5)
    gone = (np.arange(len(frame)) >= 3) & (np.arange(len(frame)) < 6)  # three non-detections
    flagged.loc[gone, "magpsf"] = np.nan
    (c,) = curves_from_frame(flagged)
    n_fading = int((fading & ~first3 & ~gone).sum())
    assert c.warnings == [f"masked {6 + n_fading} point(s): 3 flagged in column 'catflags' "
                          "(non-zero); 3 as non-detections (no magpsf; diffmaglim gives the "
                          "limit it was fainter than: an upper limit, not a measurement); "
                          f"{n_fading} with isdiffpos false (a negative difference: magpsf then "
                          "measures a fading; no reference flux to make it an apparent "
                          "magnitude)"]
    assert c.mask.sum() == len(frame) - 6 - n_fading
    # non-detections alone (an SN's alert history: no isdiffpos): said as what they are
    (c,) = curves_from_frame(flagged.drop(columns=["isdiffpos", "catflags"]))
    assert c.warnings == ["masked 3 point(s) as non-detections (no magpsf; diffmaglim gives "
                          "the limit it was fainter than: an upper limit, not a measurement)"]
    bad = frame.assign(isdiffpos=["t", "maybe"] * 40)
    with pytest.raises(DataError, match=r"alerts.csv: column 'isdiffpos' \(the difference's "
                       r"sign\) holds 'maybe': expected t or f, 1 or 0, true or false"):
        curves_from_frame(bad, "alerts.csv")
    numeric = frame.assign(isdiffpos=np.where(fading, 0, 1))  # 1 / 0, as some exports
    (c,) = curves_from_frame(numeric)
    assert c.mask.tolist() == (~fading).tolist()
    path = tmp_path / "alerts.csv"
    frame.assign(magnr=17.0, distnr=0.3).to_csv(path, index=False)
    assert column_summary(path).endswith(
        "difference magnitudes with sign isdiffpos: apparent magnitudes from the reference's "
        "magnr within 1.4\" (distnr; ALeRCE's correction); where isdiffpos is false and "
        "uncorrected: masked (a fading, not a brightening)")
    frame.assign(diffmaglim=20.5).to_csv(path, index=False)
    assert column_summary(path).endswith(
        "limiting magnitudes diffmaglim (no magnitude: a non-detection, masked)")
    # a magnitude column that is not ZTF's difference magnitude is read as it is
    (c,) = curves_from_frame(frame.rename(columns={"magpsf": "mag"}))
    assert c.mask.all()
