import numpy as np
import pandas as pd
import pytest

from lcad.models.io import DataError, read_curves
from tests.conftest import shared_data


def test_aliases_datetimes_and_default_object_id(tmp_path):
    f = tmp_path / "nab_like.csv"
    pd.DataFrame({"timestamp": ["2014-07-01 00:00:00", "2014-07-01 12:00:00",
                                "2014-07-02 00:00:00"], "value": [1.0, 2.0, 3.0]}).to_csv(f,
                                                                                        index=False)
    (c,) = read_curves(f)
    assert c.object_id == "nab_like"
    assert np.allclose(np.diff(c.time), [0.5, 0.5])


def test_magnitudes_bands_and_errors_from_rrlyrae():
    curves = read_curves(shared_data("rrlyrae", "stripe82_rrlyrae.csv"))
    assert len(curves) == 241
    c = curves[0]
    assert set(c.bands) == {"u", "g", "r", "i", "z"}
    assert c.flux_err is not None and np.nanmin(c.flux) > 0  # magnitudes became flux


def test_kepler_csv_and_parquet_and_directory(tmp_path):
    src = pd.read_csv(shared_data("kepler", "Kepler2307415.csv")).iloc[:500]
    src.to_parquet(tmp_path / "a.parquet")
    src.assign(object_id="other").to_csv(tmp_path / "b.csv", index=False)
    curves = read_curves(tmp_path)
    assert [c.object_id for c in curves] == ["Kepler2307415", "other"]
    assert len(curves[0]) == 500


def test_column_flags(tmp_path):
    f = tmp_path / "odd.csv"
    pd.DataFrame({"when": [1.0, 2.0, 3.0], "brightness": [1.0, 2.0, 3.0]}).to_csv(f, index=False)
    (c,) = read_curves(f, {"time": "when", "flux": "brightness"})
    assert len(c) == 3
    with pytest.raises(DataError, match=r"column .nope. .given for time. not found"):
        read_curves(f, {"time": "nope"})


def test_fits_quality_flags_mask_points(tmp_path):
    from astropy.io import fits

    n = 50
    cols = [fits.Column(name="TIME", format="D", array=np.arange(n) * 0.02),
            fits.Column(name="PDCSAP_FLUX", format="E", array=np.ones(n)),
            fits.Column(name="PDCSAP_FLUX_ERR", format="E", array=np.full(n, 0.01)),
            fits.Column(name="QUALITY", format="J", array=np.r_[np.zeros(45), np.ones(5)])]
    hdr = fits.Header({"OBJECT": "KIC 123"})
    fits.HDUList([fits.PrimaryHDU(header=hdr), fits.BinTableHDU.from_columns(cols)]).writeto(
        tmp_path / "lc.fits")
    (c,) = read_curves(tmp_path / "lc.fits")
    assert c.object_id == "KIC 123" and c.mask.sum() == 45


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"a,b\n1,2\n", r"no time column; columns are \['a', 'b'\]"),
        (b"time,flux\n", "the file has no rows"),
        (b"time,flux\n1,\xff\xfe\n", "not UTF-8"),
        (b"time,flux\n1,abc\n2,def\n", "holds no numbers"),
        (b"time,flux\nx,1\ny,2\n", "neither numeric nor datetimes"),
    ],
)
def test_bad_files_are_named(tmp_path, content, message):
    f = tmp_path / "bad.csv"
    f.write_bytes(content)
    with pytest.raises(DataError, match=message) as exc:
        read_curves(f)
    assert str(f) in str(exc.value)


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_curves(tmp_path / "none.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no \.csv, \.parquet or \.fits"):
        read_curves(tmp_path / "empty")
