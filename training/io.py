"""Read light curves from CSV, Parquet (long format) and Kepler/TESS FITS files."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.errors import LcadError, LightCurveError
from models.lightcurve import LightCurve, LightCurveWarning

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "object_id": ("object_id", "id", "name", "objectid", "object", "source_id", "star"),
    "time": ("time", "mjd", "t", "timestamp", "bjd", "jd", "date", "datetime"),
    "flux": ("flux", "mag", "value", "magnitude", "y"),
    "flux_err": ("flux_err", "magerr", "err", "error", "mag_err", "flux_error", "sigma", "e_mag"),
    "band": ("band", "filter", "passband", "bandpass"),
}
MAG_NAMES = {"mag", "magnitude"}
TABLE_SUFFIXES = {".csv", ".parquet", ".pq", ".fits", ".fit", ".fits.gz"}


class DataError(LcadError, ValueError):
    """A data file that cannot be read as light curves; the message names the file."""


@dataclass
class ColumnMap:
    """Which source column plays each role (None: absent)."""

    object_id: str | None
    time: str
    flux: str
    flux_err: str | None
    band: str | None
    unit: str  # "flux" or "mag"


def resolve_columns(
    path: Path, columns: list[str], overrides: Mapping[str, str | None] | None = None,
    unit: str = "auto",
) -> ColumnMap:
    """Match columns by flag or alias (case-insensitive); errors list found and expected."""
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    lower = {c.lower().strip(): c for c in columns}
    found: dict[str, str | None] = {}
    for role, aliases in COLUMN_ALIASES.items():
        if role in overrides:
            name = overrides[role]
            if name not in columns:
                raise DataError(f"{path}: column {name!r} (given for {role}) not found; "
                                f"columns are {columns}")
            found[role] = name
            continue
        found[role] = next((lower[a] for a in aliases if a in lower), None)
    for role in ("time", "flux"):
        if found[role] is None:
            raise DataError(
                f"{path}: no {role} column; columns are {columns}, expected one of "
                f"{list(COLUMN_ALIASES[role])} (or set it with --{role.replace('_', '-')}-column)")
    flux_col, time_col = found["flux"], found["time"]
    if flux_col is None or time_col is None:  # raised above; keeps the types narrow
        raise DataError(f"{path}: no time or flux column")
    if unit == "auto":
        unit = "mag" if flux_col.lower() in MAG_NAMES else "flux"
    return ColumnMap(found["object_id"], time_col, flux_col, found["flux_err"],
                     found["band"], unit)


def time_in_days(values: pd.Series, path: Path) -> np.ndarray:
    """Numeric times as they are; datetime strings or datetimes become days since 1970."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=np.float64)
    try:
        stamps = pd.to_datetime(values, utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: time column {values.name!r} is neither numeric nor "
                        f"datetimes ({exc})") from None
    days = (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(days=1)
    return np.asarray(days, dtype=np.float64)


def _numeric(values: pd.Series, path: Path, role: str) -> np.ndarray:
    out = pd.to_numeric(values, errors="coerce")
    bad = out.isna() & values.notna()
    if bad.all() and len(values):
        raise DataError(f"{path}: column {values.name!r} ({role}) holds no numbers "
                        f"(first value {values.iloc[0]!r})")
    return out.to_numpy(dtype=np.float64)


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file as a frame; errors name the file."""
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, encoding_errors="strict")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (pd.errors.ParserError, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot be read: {exc}") from None
    if frame.empty:
        raise DataError(f"{path}: the file has no rows")
    return frame


def frame_to_curves(
    frame: pd.DataFrame, path: Path, cmap: ColumnMap, default_id: str
) -> list[LightCurve]:
    t = time_in_days(frame[cmap.time], path)
    f = _numeric(frame[cmap.flux], path, "flux")
    e = None if cmap.flux_err is None else _numeric(frame[cmap.flux_err], path, "flux_err")
    band = None if cmap.band is None else frame[cmap.band].astype(str).to_numpy()
    curves = []
    # group without sorting the whole frame twice: stable order of first appearance; ids are
    # factorised as stored and only the distinct ones become str (a str per row cost 1 GB
    # and 3 s on 10 million rows)
    if cmap.object_id:
        codes, raw = pd.factorize(frame[cmap.object_id], use_na_sentinel=False)
        uniques = [str(u) for u in raw]
        if len(set(uniques)) < len(uniques):  # e.g. 1 and "1": merge them as text
            codes, uniques_arr = pd.factorize(frame[cmap.object_id].astype(str).to_numpy())
            uniques = [str(u) for u in uniques_arr]
    else:
        codes, uniques = np.zeros(len(frame), np.int64), [default_id]
    grouped = bool(np.all(codes[1:] >= codes[:-1]))  # rows already grouped by object
    order = None if grouped else np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes if order is None else codes[order],
                             np.arange(len(uniques) + 1))
    for k, name in enumerate(uniques):
        idx: slice | np.ndarray = slice(bounds[k], bounds[k + 1]) if order is None \
            else order[bounds[k]: bounds[k + 1]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LightCurveWarning)
            try:
                curves.append(LightCurve.from_arrays(
                    name, t[idx], f[idx], None if e is None else e[idx],
                    None if band is None else band[idx], unit=cmap.unit))
            except LightCurveError as exc:
                raise DataError(f"{path}: {exc}") from None
    return curves


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
        files = sorted(f for f in p.rglob("*") if f.is_file() and _suffix(f) in TABLE_SUFFIXES)
        if not files:
            raise DataError(f"{p}: no .csv, .parquet or .fits files in this directory")
        return files
    return [p]


def _suffix(p: Path) -> str:
    name = p.name.lower()
    return ".fits.gz" if name.endswith(".fits.gz") else p.suffix.lower()


def iter_curves(
    path: str | Path, columns: Mapping[str, str | None] | None = None, unit: str = "auto"
) -> Iterator[tuple[Path, list[LightCurve]]]:
    """Yield (file, curves) one file at a time, so memory holds one file."""
    for f in data_files(path):
        if _suffix(f) in {".fits", ".fit", ".fits.gz"}:
            yield f, read_fits(f)
            continue
        frame = read_table(f)
        cmap = resolve_columns(f, [str(c) for c in frame.columns], columns, unit)
        curves = frame_to_curves(frame, f, cmap, f.stem)
        del frame  # the curves hold copies: do not keep the table alive while they are used
        yield f, curves


def read_curves(
    path: str | Path, columns: Mapping[str, str | None] | None = None, unit: str = "auto"
) -> list[LightCurve]:
    """Every light curve under `path`; object ids repeated across files are kept apart."""
    out: list[LightCurve] = []
    seen: set[str] = set()
    for f, curves in iter_curves(path, columns, unit):
        for c in curves:
            if c.object_id in seen:
                c.object_id = f"{f.stem}/{c.object_id}"
            seen.add(c.object_id)
            out.append(c)
    return out


def summarize_repairs(curves: list[LightCurve]) -> list[str]:
    """One line per curve that needed repairs."""
    return [f"{c.object_id}: {'; '.join(c.warnings)}" for c in curves if c.warnings]


def describe(curves: list[LightCurve]) -> dict[str, Any]:
    n_points = sum(len(c) for c in curves)
    bands = sorted({b for c in curves for b in c.bands})
    return {"n_objects": len(curves), "n_points": n_points, "bands": bands}
