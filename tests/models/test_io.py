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


def _same_curves(got, want):
    assert [c.object_id for c in got] == [c.object_id for c in want]
    for a, b in zip(got, want, strict=True):
        for field in ("time", "flux", "flux_err", "band", "mask"):
            x, y = getattr(a, field), getattr(b, field)
            same = (x is None and y is None) or np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
            assert same, (a.object_id, field)
        assert a.warnings == b.warnings


def _survey_table(rng, objects=40):
    """Long format, rows grouped by object: 5 to 300 rows each (one longer than a piece),
    two bands, times unsorted within an object, a NaN flux and a negative error to repair."""
    parts = []
    for i in range(objects):
        n = 300 if i == 7 else int(rng.integers(5, 60))
        parts.append(pd.DataFrame({
            "object_id": f"star{i:03d}", "mjd": rng.permutation(rng.uniform(0, 900, n)),
            "mag": rng.normal(17, 0.1, n), "magerr": rng.uniform(0.01, 0.05, n),
            "filter": rng.choice(["g", "r"], n)}))
    table = pd.concat(parts, ignore_index=True)
    table.loc[3, "mag"] = np.nan
    table.loc[50, "magerr"] = -1.0
    return table


@pytest.mark.parametrize("ids", ["text", "categorical"])
def test_a_large_grouped_parquet_file_is_read_a_piece_at_a_time_into_the_same_curves(
        tmp_path, monkeypatch, ids):
    """A Parquet file of more than PIECE_ROWS rows, grouped by object, comes a piece at a time
    (scoring starts after one piece, memory holds one): the objects are whole, in file order,
    and each is the curve a whole-file read gives, with its repairs. Ids as text or as a
    categorical (a Parquet dictionary)."""
    from lcad.models import io

    path = tmp_path / "survey.parquet"
    table = _survey_table(np.random.default_rng(0))
    if ids == "categorical":
        table["object_id"] = table["object_id"].astype("category")
    table.to_parquet(path, index=False, row_group_size=97)
    whole = read_curves(path)
    monkeypatch.setattr(io, "PIECE_ROWS", 100)
    pieces = [curves for _, curves in io.iter_curves(path)]
    assert len(pieces) > 5
    assert all(pieces)
    _same_curves([c for p in pieces for c in p], whole)
    assert any(c.warnings for c in whole)  # repairs were made, and kept


@pytest.mark.parametrize("spoil", ["apart", "apart in one piece", "missing id",
                                   "no id column"])
def test_a_parquet_file_not_grouped_by_object_is_read_whole(tmp_path, monkeypatch, spoil):
    """An object whose rows are apart (in two pieces, or in the first one), a missing id or
    no object column: the file is read whole, as before (a piece would split the object in
    two)."""
    from lcad.models import io

    table = _survey_table(np.random.default_rng(1))
    if spoil == "apart":  # the first object's last two rows at the end of the file
        moved = table.index[table.object_id == "star000"][-2:]
        table = pd.concat([table.drop(moved), table.loc[moved]], ignore_index=True)
    elif spoil == "apart in one piece":  # star000's last row after star001's first
        order = list(table.index)
        last0, first1 = (table.index[table.object_id == s][k] for s, k in
                         (("star000", -1), ("star001", 0)))
        order.remove(last0)
        order.insert(order.index(first1) + 1, last0)
        table = table.loc[order].reset_index(drop=True)
        assert table.index[table.object_id == "star001"][0] < 100
    elif spoil == "missing id":
        table["object_id"] = table["object_id"].astype(object)
        table.loc[10, "object_id"] = None
    else:
        table = table.drop(columns="object_id").iloc[:150]
    path = tmp_path / "survey.parquet"
    table.to_parquet(path, index=False)
    want = [c for _, curves in io.iter_curves(path) for c in curves]
    monkeypatch.setattr(io, "PIECE_ROWS", 100)
    pieces = [curves for _, curves in io.iter_curves(path)]
    assert len(pieces) == 1
    _same_curves(pieces[0], want)


def test_a_damaged_page_met_while_reading_in_pieces_is_named(tmp_path, monkeypatch):
    """A page that cannot be decoded, found only when its piece is read (the footer and the
    object column are sound): a DataError naming the file, not a pyarrow traceback."""
    import pyarrow.parquet as pq

    from lcad.models import io

    path = tmp_path / "survey.parquet"
    _survey_table(np.random.default_rng(2)).to_parquet(path, index=False, row_group_size=200,
                                                       compression="none")
    meta = pq.ParquetFile(path).metadata
    flux = meta.schema.names.index("mag")
    at = meta.row_group(meta.num_row_groups - 1).column(flux).data_page_offset
    raw = bytearray(path.read_bytes())
    raw[at: at + 64] = b"\xff" * 64
    path.write_bytes(bytes(raw))
    monkeypatch.setattr(io, "PIECE_ROWS", 100)
    pieces = []
    with pytest.raises(DataError, match=r"survey\.parquet: cannot be read"):
        for _, curves in io.iter_curves(path):
            pieces.append(curves)
    assert pieces  # the pieces before the damaged one were read and given


def test_column_summary_names_the_column_each_role_is_read_from(tmp_path):
    """The line the CLI prints before reading: the first table's header only."""
    from lcad.models.io import column_summary

    d = tmp_path / "d"
    d.mkdir()
    pd.DataFrame({"MasterID": [1, 1], "MJD": [0.0, 1.0], "Mag": [18.0, 18.2],
                  "Magerr": [0.1, 0.1]}).to_csv(d / "a.csv", index=False)
    pd.DataFrame({"t": [0.0, 1.0], "flux": [1.0, 2.0]}).to_parquet(d / "b.parquet")
    assert column_summary(d / "a.csv") == ("columns: object MasterID, time MJD, magnitude "
                                           "Mag, error Magerr, band - (one band)")
    assert column_summary(d / "b.parquet") == (
        "columns: object - (the whole file is one object), time t, flux flux, error -, "
        "band - (one band)")
    assert column_summary(d).startswith("columns (the first of 2 files): object MasterID")
    assert column_summary(d / "a.csv", {"flux_err": "MJD"}).endswith("error MJD, band - (one band)")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    assert column_summary(tmp_path / "bad.csv") is None  # reading it says why
    assert column_summary(tmp_path / "none.csv") is None


def test_text_files_without_a_header_row(tmp_path):
    """One value a line (the UCR archive's files), one line of values, time and value with
    tabs, time, value and error with commas, dates without a header: each read as a curve;
    five unnamed columns are refused with what to add."""
    from lcad.models.io import column_summary

    values = np.sin(np.arange(300) / 7.0)
    (tmp_path / "one.txt").write_text("\n".join(f"  {v:.6e}" for v in values) + "\n")
    (tmp_path / "line.txt").write_text("   ".join(f"{v:.6e}" for v in values) + "\n")
    (tmp_path / "two.dat").write_text("\n".join(f"{0.02 * i}\t{v}" for i, v in enumerate(values)))
    (tmp_path / "three.csv").write_text("\n".join(f"{0.02 * i},{v},0.1"
                                                  for i, v in enumerate(values)))
    (tmp_path / "README.txt").write_text("one value a line; see the paper\n")  # not data
    curves = {c.object_id: c for c in read_curves(tmp_path)}
    assert sorted(curves) == ["line", "one", "three", "two"]
    for c in curves.values():
        assert len(c) == 300 and np.allclose(c.flux, values, atol=1e-6)
    assert np.array_equal(curves["one"].time, np.arange(300.0))  # the row number
    assert np.allclose(np.diff(curves["two"].time), 0.02)
    assert curves["three"].flux_err is not None and curves["one"].flux_err is None
    assert column_summary(tmp_path / "one.txt") == (
        "columns: no header row: flux (time: the row number, from 0)")
    assert column_summary(tmp_path / "three.csv") == "columns: no header row: time, flux, flux_err"

    dated = tmp_path / "dated.csv"
    dated.write_text("2014-04-01 00:00:00,20.5\n2014-04-01 00:05:00,21.5\n"
                     "2014-04-01 00:10:00,22.0\n")
    (c,) = read_curves(dated)
    assert np.allclose(np.diff(c.time), 5 / 1440) and list(c.flux) == [20.5, 21.5, 22.0]

    spaced = tmp_path / "spaced.txt"  # a text table with a header, spaces between columns
    spaced.write_text("mjd mag magerr\n" + "\n".join(f"{i} {15 + v} 0.02"
                                                     for i, v in enumerate(values)))
    (c,) = read_curves(spaced)
    assert c.unit == "mag" and len(c) == 300

    long_line = tmp_path / "long.txt"  # past the bytes read for the first line: a cut value
    long_line.write_text("  ".join(f"{v:.9e}" for v in np.sin(np.arange(20_000) / 7.0)))
    (c,) = read_curves(long_line)
    assert len(c) == 20_000 and c.time[-1] == 19_999

    wide = tmp_path / "wide.txt"
    wide.write_text("\n".join("1 2 3 4 5" for _ in range(10)))
    with pytest.raises(DataError, match="5 columns of numbers and no header row; add a header"):
        read_curves(wide)


def test_comment_lines_and_spreadsheet_csv_are_read_as_the_plain_table(tmp_path):
    """Astronomy's text tables open with `#` comment lines, the last one often naming the
    columns (a commented header); a spreadsheet set to a decimal comma writes `;`-separated
    CSV. Each reads as the same curve as a plain CSV, and the columns line names what it
    found; comments over a header row, or over values they do not name, are skipped."""
    from lcad.models.io import column_summary

    t, mag = 2450000.0 + np.arange(50) * 0.1, 12.0 + 0.1 * np.sin(np.arange(50))
    plain = tmp_path / "plain.csv"
    pd.DataFrame({"hjd": t, "mag": mag, "mag_err": 0.01}).to_csv(plain, index=False)
    rows = [f"{a:.1f} {float(b)!r} 0.01" for a, b in zip(t, mag, strict=True)]
    files = {
        "commented.dat": "# ASAS-SN-like export\n#\n# hjd  mag  mag_err\n" + "\n".join(rows),
        "over_header.txt": "# units: days, mag\nhjd mag mag_err\n" + "\n".join(rows),
        "semicolons.csv": "hjd;mag;mag_err\n" + "\n".join(
            ";".join(v.replace(".", ",") for v in r.split()) for r in rows),
    }
    want = read_curves(plain)[0]
    for name, text in files.items():
        (tmp_path / name).write_text(text + "\n")
        (c,) = read_curves(tmp_path / name)
        assert c.unit == "mag" and np.allclose(c.time, want.time), name
        assert np.allclose(c.flux, want.flux) and np.allclose(c.flux_err, want.flux_err), name
        assert column_summary(tmp_path / name).startswith(
            "columns: object - (the whole file is one object), time hjd, magnitude mag, "
            "error mag_err"), name
    unnamed = tmp_path / "unnamed.txt"  # the comment names no columns: no header row
    unnamed.write_text("# observed 2009-2013\n" + "\n".join(f"{float(v)!r}" for v in mag))
    (c,) = read_curves(unnamed)
    assert len(c) == 50 and np.array_equal(c.time, np.arange(50.0))
    assert column_summary(unnamed) == "columns: no header row: flux (time: the row number, from 0)"


def test_a_ucr_archive_name_gives_the_training_part_and_the_anomaly(tmp_path):
    from lcad.models.io import ucr_split

    f = tmp_path / "025_UCR_Anomaly_DISTORTEDCIMIS44AirTemperature1_4000_5391_5392.txt"
    f.write_text("\n".join(str(float(v)) for v in range(6000)))
    split = ucr_split(f)
    assert split is not None
    assert (split.train_end, split.begin, split.end) == (4000, 5390, 5391)  # rows from 0
    (whole,) = read_curves(f)
    (train,) = read_curves(f, part="train")
    (test,) = read_curves(f, part="test")
    assert len(whole) == 6000 and whole.object_id == f.stem
    assert (train.time[0], train.time[-1], test.time[0], test.time[-1]) == (0, 3999, 4000, 5999)
    assert test.flux[0] == 4000.0  # the archive's point 4001
    other = tmp_path / "series_4000_5391_5392.txt"  # not the archive's pattern: read whole
    other.write_text(f.read_text())
    assert ucr_split(other) is None and len(read_curves(other, part="train")[0]) == 6000
