"""Read light curves from CSV, Parquet (long format) and Kepler/TESS FITS files."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lcad.models.errors import DataError, LightCurveError
from lcad.models.frames import (
    FIRST_LINE_BYTES,
    HEADERLESS_COLUMNS,
    ColumnMap,
    TableStart,
    csv_options,
    frame_to_curves,
    headerless_frame,
    resolve_columns,
    table_start,
    time_in_days,
    values_in_first_line,
)
from lcad.models.lightcurve import LightCurve, LightCurveWarning

__all__ = ["ColumnMap", "DataError", "UcrSplit", "column_summary", "data_files",
           "estimated_rows", "iter_curves", "read_curves", "read_fits", "read_table",
           "resolve_columns", "summarize_repairs", "time_in_days", "ucr_split"]

PARQUET_SUFFIXES = {".parquet", ".pq"}
FITS_SUFFIXES = {".fits", ".fit", ".fits.gz"}
TABLE_SUFFIXES = {".csv"} | PARQUET_SUFFIXES | FITS_SUFFIXES
# plain text: one value a line (the UCR anomaly archive's files), or time and value (and
# error) columns without a header row; in a directory such a file is read only when its
# first line holds numbers (a README.txt beside the data is left alone)
TEXT_SUFFIXES = {".txt", ".dat", ".tsv"}
# the UCR anomaly archive (Wu & Keogh 2021): <n>_UCR_Anomaly_<name>_<train>_<begin>_<end>.txt,
# points 1..train the training part, begin..end (1-based, inclusive) the one anomaly
UCR_NAME = re.compile(r"^\d+_UCR_Anomaly_.+_(\d+)_(\d+)_(\d+)$")
# a Parquet file of more rows than this, its rows grouped by object, is read a piece of about
# this many rows at a time (`iter_curves`): scoring starts after one piece is read, not the
# whole file, and memory holds a piece (100,000 survey objects in two scoring processes,
# with the processes started at once: the first chunk scored at 16 s instead of 27 s)
PIECE_ROWS = 1 << 20


@dataclass(frozen=True)
class UcrSplit:
    """What a UCR anomaly archive file's name says, in rows from 0 (the time lcad gives a
    headerless file's rows): rows < `train_end` are the training part, rows `begin`..`end`
    (inclusive) the anomaly."""

    train_end: int
    begin: int
    end: int

    def part(self, curve: LightCurve, which: str) -> LightCurve:
        """The training part ("train") or the rest ("test") of one of the file's curves."""
        lo, hi = (-np.inf, self.train_end) if which == "train" else (self.train_end, np.inf)
        return curve.slice_time(lo, hi)

    def describe(self) -> str:
        return (f"rows 0..{self.train_end - 1} the training part, the anomaly at rows "
                f"{self.begin}..{self.end}")


def ucr_split(path: str | Path) -> UcrSplit | None:
    """The split a UCR anomaly archive file's name gives (`UCR_NAME`), None for any other."""
    p = Path(path)
    m = UCR_NAME.match(p.stem) if p.suffix.lower() in TEXT_SUFFIXES else None
    if m is None:
        return None
    train, begin, end = (int(g) for g in m.groups())
    return UcrSplit(train, begin - 1, end - 1)  # the archive counts from 1


def _table_start(path: Path) -> TableStart:
    """Where the table in a text file begins (`frames.table_start` of its first bytes)."""
    with path.open("rb") as fh:
        head = fh.read(FIRST_LINE_BYTES)
    return table_start(head, cut=len(head) == FIRST_LINE_BYTES)


def _csv_options(path: Path, start: TableStart) -> dict[str, Any]:
    """`frames.csv_options` for this file: a text file's own separator (commas, semicolons,
    tabs or spaces), a CSV file's commas or semicolons."""
    return csv_options(start, text=_suffix(path) in TEXT_SUFFIXES)


def headerless(path: Path) -> int | None:
    """How many values the first line of a text or CSV file holds when it is not a header
    row (`values_in_first_line`), else None."""
    try:
        return values_in_first_line(_table_start(path).first)
    except OSError:
        return None


def read_table(path: Path) -> pd.DataFrame:
    """A CSV, text or Parquet file as a frame (a text or CSV table without a header row:
    `headerless_frame`); errors name the file."""
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            frame = pd.read_parquet(path)
        elif values_in_first_line((start := _table_start(path)).first) is not None:
            frame = headerless_frame(path, start, path)
        else:
            frame = pd.read_csv(path, encoding_errors="strict", **_csv_options(path, start))
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (pd.errors.ParserError, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot be read: {exc}") from None
    if frame.empty:
        raise DataError(f"{path}: the file has no rows")
    return frame


def read_fits(path: Path) -> list[LightCurve]:
    """Kepler/TESS light-curve FITS: TIME, PDCSAP_FLUX (or SAP_FLUX), errors, QUALITY mask."""
    from astropy.io import fits

    try:
        with fits.open(path, memmap=False) as hdul:
            hdu = next((h for h in hdul if getattr(h, "columns", None) is not None), None)
            if hdu is None:
                raise DataError(f"{path}: no binary table extension with light-curve columns")
            names = [c.upper() for c in hdu.columns.names]
            data = hdu.data
            flux_col = next((c for c in ("PDCSAP_FLUX", "SAP_FLUX", "FLUX") if c in names), None)
            if "TIME" not in names or flux_col is None:
                raise DataError(f"{path}: columns are {names}; expected TIME and one of "
                                "PDCSAP_FLUX, SAP_FLUX, FLUX")
            t = np.asarray(data["TIME"], dtype=np.float64)
            f = np.asarray(data[flux_col], dtype=np.float64).copy()
            err_col = flux_col + "_ERR"
            e = np.asarray(data[err_col], dtype=np.float64) if err_col in names else None
            if "QUALITY" in names:
                f[np.asarray(data["QUALITY"]) != 0] = np.nan
            header = {**hdul[0].header, **hdu.header}
            oid = str(header.get("OBJECT") or header.get("KEPLERID") or header.get("TICID")
                      or path.stem)
    except OSError as exc:
        raise DataError(f"{path}: not a readable FITS file: {exc}") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LightCurveWarning)
        try:
            return [LightCurve.from_arrays(oid, t, f, e)]
        except LightCurveError as exc:
            raise DataError(f"{path}: {exc}") from None


def data_files(path: str | Path) -> list[Path]:
    """The file itself, or every readable file in a directory (sorted)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or directory")
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and (
            _suffix(f) in TABLE_SUFFIXES
            or (_suffix(f) in TEXT_SUFFIXES and headerless(f) is not None)))
        if not files:
            raise DataError(f"{p}: no .csv, .parquet or .fits files (nor text files of "
                            "numbers) in this directory")
        return files
    return [p]


def _suffix(p: Path) -> str:
    name = p.name.lower()
    return ".fits.gz" if name.endswith(".fits.gz") else p.suffix.lower()


def iter_curves(
    path: str | Path, columns: Mapping[str, str | None] | None = None, unit: str = "auto"
) -> Iterator[tuple[Path, list[LightCurve]]]:
    """Yield (file, curves) one file at a time, so memory holds one file; a large Parquet file
    whose rows are grouped by object, a piece of about PIECE_ROWS rows at a time (whole
    objects: the same curves as the whole file gives)."""
    files = data_files(path)
    for f in files:
        if _suffix(f) in FITS_SUFFIXES:
            yield f, read_fits(f)
            continue
        pieces = _grouped_parquet(f, columns, unit)
        if pieces is not None:
            for curves in pieces:
                yield f, curves
            continue
        frame = read_table(f)
        try:
            cmap = resolve_columns(f, [str(c) for c in frame.columns], columns, unit)
        except DataError as exc:
            if len(files) > 1:  # a catalogue or notes beside the light curves
                raise DataError(
                    f"{exc}. {path} is a directory: every table in it ("
                    f"{len(files)} files) is read as light curves; give the light-curve "
                    "file itself, or move the others out") from None
            raise
        curves = frame_to_curves(frame, cmap, f, f.stem)
        del frame  # the curves hold copies: do not keep the table alive while they are used
        yield f, curves


def _grouped_parquet(f: Path, columns: Mapping[str, str | None] | None, unit: str
                     ) -> Iterator[list[LightCurve]] | None:
    """The curves of Parquet file `f` a piece at a time (`_pieces`), or None where it must be
    read whole: not Parquet, unreadable (`read_table` says why), of at most PIECE_ROWS rows,
    without an object column, or with an object's rows apart (`_grouped`)."""
    if _suffix(f) not in PARQUET_SUFFIXES:
        return None
    import pyarrow.parquet as pq

    try:
        # no pre-buffering: its cache kept every column chunk read until the end (1,000,000
        # objects in 100 row groups: +17 MB a piece, 3.7 GB at the end), and read 2-4x slower
        pf = pq.ParquetFile(f, pre_buffer=False)
        if pf.metadata.num_rows <= PIECE_ROWS:
            return None
        cmap = resolve_columns(f, pf.schema_arrow.names, columns, unit)
        if cmap.object_id is None or not _grouped(pf, cmap.object_id):
            return None
    except (OSError, ValueError):
        return None
    return _pieces(pf, cmap, f)


def _grouped(pf: Any, column: str) -> bool:
    """Whether every object's rows in Parquet file `pf` are together, none without an id:
    the id column read a piece at a time, each run of equal ids new. The set of ids seen
    is what it holds (1,000,000 objects, 100M rows: 2.6 s and 0.4 GB; reading the
    column whole to compare its runs with its distinct values took 25 s and 3.3 GB)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    seen: set[Any] = set()
    last: Any = None
    for batch in pf.iter_batches(batch_size=PIECE_ROWS, columns=[column]):
        ids = batch.column(0)
        if ids.null_count:
            return False
        if pa.types.is_dictionary(ids.type):  # categoricals
            ids = ids.cast(ids.type.value_type)
        if not len(ids):
            continue
        runs = [ids[0].as_py(), *pc.filter(ids[1:], pc.not_equal(ids[1:], ids[:-1])).to_pylist()]
        if runs[0] == last:  # the last batch's object goes on
            runs = runs[1:]
        before = len(seen)
        seen.update(runs)
        if len(seen) != before + len(runs):  # an id met again after other ids
            return False
        last = ids[-1].as_py()
    return True


def _pieces(pf: Any, cmap: ColumnMap, f: Path) -> Iterator[list[LightCurve]]:
    """The curves of the grouped Parquet file `pf`, a batch of PIECE_ROWS rows at a time; the
    last object of a batch waits for the next one (it may go on there)."""
    names = list(dict.fromkeys(c for c in (cmap.object_id, cmap.time, cmap.flux,
                                           cmap.flux_err, cmap.band, *cmap.extra) if c))
    carry: pd.DataFrame | None = None
    batches = pf.iter_batches(batch_size=PIECE_ROWS, columns=names)
    while True:
        try:
            batch = next(batches, None)
        except (OSError, ValueError) as exc:  # a damaged page, found as it is read
            raise DataError(f"{f}: cannot be read: {exc}") from None
        if batch is None:
            break
        frame = batch.to_pandas()
        if carry is not None:
            frame = pd.concat([carry, frame], ignore_index=True)
        ids = frame[cmap.object_id].to_numpy()
        before = np.flatnonzero(ids != ids[-1])  # rows of the objects before the last one
        start = int(before[-1]) + 1 if before.size else 0
        carry = frame.iloc[start:]
        if start:
            yield frame_to_curves(frame.iloc[:start], cmap, f, f.stem)
    if carry is not None and len(carry):
        yield frame_to_curves(carry, cmap, f, f.stem)


def estimated_rows(path: str | Path) -> int:
    """About how many rows (points) the table files under `path` hold: Parquet's own count,
    a CSV's size over the mean length of its first lines (FITS files: none counted)."""
    total = 0
    for f in data_files(path):
        suffix = _suffix(f)
        try:
            if suffix in PARQUET_SUFFIXES:
                import pyarrow.parquet as pq

                total += pq.ParquetFile(f).metadata.num_rows
            elif suffix == ".csv" or suffix in TEXT_SUFFIXES:
                with f.open("rb") as fh:
                    head = fh.read(1 << 16)
                lines = max(1, head.count(b"\n"))
                total += int(f.stat().st_size / (len(head) / lines))
        except (OSError, ValueError):
            continue  # read_table names the problem when the file is read
    return total


def read_curves(
    path: str | Path, columns: Mapping[str, str | None] | None = None, unit: str = "auto",
    part: str | None = None,
) -> list[LightCurve]:
    """Every light curve under `path`; object ids repeated across files are kept apart.
    `part` "train" or "test": of a UCR anomaly archive file (`ucr_split`), only the training
    part its name gives, or only the rest; other files whole."""
    out: list[LightCurve] = []
    seen: set[str] = set()
    for f, curves in iter_curves(path, columns, unit):
        split = ucr_split(f) if part else None
        if split is not None and part is not None:
            curves = [split.part(c, part) for c in curves]
        for c in curves:
            if c.object_id in seen:
                c.object_id = f"{f.stem}/{c.object_id}"
            seen.add(c.object_id)
            out.append(c)
    return out


def column_summary(path: str | Path, columns: Mapping[str, str | None] | None = None,
                   unit: str = "auto") -> str | None:
    """One line naming the column each role is read from in the first table under `path`
    (its header only), so that a user sees what was recognised; None for FITS files, or
    where the columns cannot be resolved (reading the data then says why)."""
    try:
        files = [f for f in data_files(path) if _suffix(f) not in FITS_SUFFIXES]
        if not files:
            return None
        f = files[0]
        if _suffix(f) in PARQUET_SUFFIXES:
            import pyarrow.parquet as pq

            names = list(pq.read_schema(f).names)
        elif (start := _table_start(f)).names is not None:  # a commented header
            names = start.names
        elif (n_values := values_in_first_line(start.first)) is not None:
            names = list(HEADERLESS_COLUMNS.get(n_values, HEADERLESS_COLUMNS[1]))
            return ("columns: no header row: " + ", ".join(names) + (
                " (time: the row number, from 0)" if "time" not in names else ""))
        else:
            names = [str(c) for c in pd.read_csv(f, nrows=0, encoding_errors="strict",
                                                  **_csv_options(f, start)).columns]
        cmap = resolve_columns(f, names, columns, unit)
    except (DataError, OSError, ValueError, UnicodeDecodeError):
        return None
    parts = [f"object {cmap.object_id or '- (the whole file is one object)'}",
             f"time {cmap.time}",
             f"{'magnitude' if cmap.unit == 'mag' else 'flux'} {cmap.flux}",
             f"error {cmap.flux_err or '-'}", f"band {cmap.band or '- (one band)'}"]
    if cmap.quality:
        parts.append(f"quality flags {cmap.quality} (non-zero: masked)")
    if cmap.difference:
        parts.append(cmap.difference.text)
    if cmap.limit:
        parts.append(f"limiting magnitudes {cmap.limit} (no magnitude: a non-detection, masked)")
    more = f" (the first of {len(files)} files)" if len(files) > 1 else ""
    return f"columns{more}: " + ", ".join(parts)


def objects_path(output: Path) -> Path:
    """Where `lcad score` writes the objects beside its points file `output`."""
    return output.with_name(f"{output.stem}.objects{output.suffix}")


def intervals_path(output: Path) -> Path:
    """Where `lcad score` writes the flagged intervals beside its points file `output`."""
    return output.with_name(f"{output.stem}.intervals{output.suffix}")


def summarize_repairs(curves: list[LightCurve]) -> list[str]:
    """One line per curve that needed repairs."""
    return [f"{c.object_id}: {'; '.join(c.warnings)}" for c in curves if c.warnings]

