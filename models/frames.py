"""Long-format tables -> light curves: the one path files, the pyfunc and the service share.

Columns are found by role (`resolve_columns`: a flag, else a common name); times become days;
each object becomes a `LightCurve` through `LightCurve.from_arrays`, which repairs and
reports. No file I/O here (models/io.py reads files, the service parses bodies).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lcad.models.errors import DataError, LightCurveError
from lcad.models.lightcurve import LightCurve, LightCurveWarning, clean_curves

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    # the generic names, then the surveys' own: ZTF (IRSA, ALeRCE, Fink: `oid`, `magpsf`,
    # `sigmapsf`, `fid`, `filtercode`), CRTS (`MasterID`), LSST / ELAsTiCC (`diaObjectId`,
    # `midpointMjdTai`, `psFlux`), SNANA and PLAsTiCC (`SNID`, `FLUXCAL`, `FLT`, `passband`),
    # ASAS-SN (`HJD`), Kepler / TESS tables (`PDCSAP_FLUX`, `BTJD`)
    "object_id": ("object_id", "id", "name", "objectid", "object", "source_id", "star", "oid",
                  "masterid", "diaobjectid", "snid", "sourceid"),
    "time": ("time", "mjd", "t", "timestamp", "bjd", "jd", "date", "datetime", "hjd", "hmjd",
             "btjd", "bjd_tdb", "midpointmjdtai", "midpointtai"),
    "flux": ("flux", "mag", "value", "magnitude", "y", "magpsf", "mag_psf", "psflux", "psfflux",
             "fluxcal", "pdcsap_flux", "sap_flux"),
    "flux_err": ("flux_err", "magerr", "err", "error", "mag_err", "flux_error", "sigma", "e_mag",
                 "sigmapsf", "magpsf_err", "psfluxerr", "psffluxerr", "fluxcalerr",
                 "pdcsap_flux_err", "sap_flux_err", "fluxerr"),
    "band": ("band", "filter", "passband", "bandpass", "fid", "filtercode", "filtername", "flt"),
}
# a quality-flag column: a point whose flag is non-zero is masked (Kepler / TESS tables and
# lightkurve's CSV: `quality`, `sap_quality`; ZTF's light-curve service: `catflags`), as the
# FITS reader masks QUALITY != 0
QUALITY_NAMES = ("quality", "sap_quality", "catflags")
MAG_NAMES = {"mag", "magnitude", "magpsf", "mag_psf"}
# an error column of the other unit is never paired with the flux column (ASAS-SN tables hold
# mag, mag_err, flux and flux_err: magnitudes must not get the flux errors)
FLUX_ERROR_NAMES = {"flux_err", "flux_error", "fluxerr", "psfluxerr", "psffluxerr", "fluxcalerr",
                    "pdcsap_flux_err", "sap_flux_err"}
MAG_ERROR_NAMES = {"magerr", "mag_err", "e_mag", "sigmapsf", "magpsf_err"}
# ZTF alert photometry (the alert stream, Fink, Lasair, ALeRCE's detections): `magpsf` is the
# magnitude of the flux in the difference image (science minus reference), `isdiffpos` its
# sign. Where the object is in the reference image (a variable star, an AGN), a fading makes
# a negative difference whose size magpsf gives as if it were a brightening; only with the
# reference flux does it become an apparent magnitude (ALeRCE's correction, Förster et al.
# 2021): ALeRCE's own `magpsf_corr` where given, else from `magnr` where the reference source
# lies within ZTF_MATCH_RADIUS (`distnr`). A negative difference that cannot be corrected is
# masked and reported, not read as a brightening.
DIFFERENCE_MAGNITUDE = "magpsf"
# the limiting magnitude of a non-detection (ZTF's alert histories and forced photometry: a
# row with no magnitude and the limit it was fainter than)
LIMIT_NAMES = ("diffmaglim",)
ZTF_MATCH_RADIUS = 1.4  # arcsec: the reference source is the object itself (ALeRCE's)


# the names a headerless table's columns get, by how many there are
HEADERLESS_COLUMNS = {1: ("flux",), 2: ("time", "flux"), 3: ("time", "flux", "flux_err")}


# the bytes of a table read to find its first line (`first_line`)
FIRST_LINE_BYTES = 1 << 16


@dataclass(frozen=True)
class TableStart:
    """Where a text table begins (`table_start`)."""

    first: str  # its first line that is no comment: a header row, or values
    skip: int  # the lines before it: comments (`#`, as astronomy's text tables open) and blanks
    names: list[str] | None = None  # a commented header: the last comment line's names, where
    # the first line is values and they are as many (`# time mag err`, then numbers)


def table_start(head: bytes, cut: bool) -> TableStart:
    """Where the table in a text table's first bytes `head` begins; `cut`: the table goes on
    past them, so a line that fills them (one long line of values) loses its last value,
    which may be cut in two."""
    lines = head.decode("utf-8", errors="replace").splitlines()
    skip, comment = 0, None
    while skip < len(lines) and (not lines[skip].strip()
                                 or lines[skip].lstrip().startswith("#")):
        if lines[skip].strip():
            comment = lines[skip].lstrip()[1:]
        skip += 1
    if skip == len(lines):
        return TableStart("", skip)
    line = lines[skip]
    if cut and skip == len(lines) - 1 and len(line.split()) > 1:
        line = line.rsplit(None, 1)[0]
    names = None
    n = values_in_first_line(line)
    if comment is not None and n is not None:
        tokens = _tokens(comment, separator(line))
        if len(tokens) == n and all(tokens) and not any(_number(t) for t in tokens):
            names = tokens
    return TableStart(line, skip, names)


def first_line(head: bytes, cut: bool) -> str:
    """The first line of a table's first bytes that is neither blank nor a comment
    (`table_start`)."""
    return table_start(head, cut).first


def separator(line: str) -> str:
    """A table's field separator, from its first line: semicolons (with decimal commas, as
    spreadsheets write CSV where the comma is the decimal mark), else commas, else tabs, else
    spaces."""
    if ";" in line and line.count(";") >= line.count(","):
        return ";"
    return "," if "," in line else "\t" if "\t" in line else r"\s+"


def csv_options(start: TableStart, text: bool) -> dict[str, Any]:
    """`pd.read_csv`'s separator, decimal mark and rows to skip for a table that begins at
    `start`; `text`: a text file (.txt, .dat, .tsv: tabs or spaces too), else a CSV file or
    body (commas, or semicolons)."""
    sep = separator(start.first)
    if not text and sep not in (",", ";"):
        sep = ","
    return {"sep": sep, "decimal": "," if sep == ";" else ".", "skiprows": start.skip}


def _tokens(line: str, sep: str) -> list[str]:
    return [t.strip() for t in (line.split() if sep == r"\s+" else line.split(sep))]


def _number(token: str, decimal_comma: bool = False) -> bool:
    try:
        float(token.replace(",", ".") if decimal_comma else token)
    except ValueError:
        return False
    return True


def values_in_first_line(line: str) -> int | None:
    """How many values a table's first line holds when they are all numbers, the first maybe
    a date and time (the table has no header row), else None."""
    sep = separator(line)
    tokens = _tokens(line, sep)
    if not tokens or not all(tokens):
        return None
    numbers = [_number(t, sep == ";") for t in tokens]
    if not all(numbers[1:]) or not (numbers[0] or (len(tokens) >= 2 and _datetime(tokens[0]))):
        return None  # a header row (or text that is not a table)
    return len(tokens)


def _datetime(token: str) -> bool:
    """Whether a table's first value is a date and time (`2014-04-01 00:05:00`): a time
    column without a header."""
    if not re.match(r"^\d{4}-\d{2}-\d{2}", token):
        return False
    try:
        pd.Timestamp(token)
    except ValueError:
        return False
    return True


def headerless_frame(source: Any, start: TableStart, where: str | Path) -> pd.DataFrame:
    """A table without a header row (a path or a buffer beginning at `start`): named by its
    commented header where it has one (`# time mag err`), else one value a row (time = the
    row, from 0), time and value, or time, value and error; one line of many values is one
    series. Errors name `where`."""
    frame = pd.read_csv(source, header=None, encoding_errors="strict", skip_blank_lines=True,
                        **csv_options(start, text=True))
    if start.names is not None:
        frame.columns = start.names
        return frame
    if len(frame) == 1 and frame.shape[1] > 3:  # one series written across one line
        frame = pd.DataFrame({0: frame.iloc[0].to_numpy(np.float64)})
    named = headerless_named(frame)
    if named is None:
        raise DataError(f"{where}: {frame.shape[1]} columns of numbers and no header row; add a "
                        "header naming the time, flux (or mag), error (and band) columns")
    return named


def headerless_named(frame: pd.DataFrame) -> pd.DataFrame | None:
    """Unnamed numeric columns named by how many there are (`HEADERLESS_COLUMNS`), the row
    number (from 0) as the time where there is none; None for another width."""
    names = HEADERLESS_COLUMNS.get(frame.shape[1])
    if names is None:
        return None
    frame.columns = list(names)
    if "time" not in frame:
        frame.insert(0, "time", np.arange(len(frame), dtype=np.float64))
    return frame


def _bare(name: str) -> str:
    """A column name as aliases are matched: lower case, without a namespace prefix (Fink's
    `i:magpsf`, `d:...`)."""
    return name.lower().strip().rsplit(":", 1)[-1]


def _bare_names(columns: Sequence[str]) -> dict[str, str]:
    """Each column by its bare name (`_bare`); the first column of a name wins (`i:jd` and
    `d:jd`: the first)."""
    lower: dict[str, str] = {}
    for c in columns:
        lower.setdefault(_bare(str(c)), str(c))
    return lower


def _first_alias(lower: Mapping[str, str], role: str) -> str | None:
    """The column (of `_bare_names`) named as `role`'s first matching alias, or None."""
    return next((lower[a] for a in COLUMN_ALIASES[role] if a in lower), None)


def alias_column(columns: Sequence[str], role: str) -> str | None:
    """The first column named as `role`'s aliases name it (COLUMN_ALIASES; case and
    namespace prefix ignored), or None: `resolve_columns`' match for one role."""
    return _first_alias(_bare_names(columns), role)


def _error_column(flux_col: str, unit: str, lower: Mapping[str, str]) -> str | None:
    """The error column of `flux_col`: one named after it (`<flux>_err`, `<flux>err`,
    `e_<flux>`, `<flux>_error`), else the first alias that is not of the other unit."""
    f = _bare(flux_col)
    for name in (f"{f}_err", f"{f}err", f"e_{f}", f"{f}_error"):
        if name in lower:
            return lower[name]
    other = FLUX_ERROR_NAMES if unit == "mag" else MAG_ERROR_NAMES
    return next((lower[a] for a in COLUMN_ALIASES["flux_err"] if a in lower and a not in other),
                None)


@dataclass(frozen=True)
class DifferenceColumns:
    """The columns that make ZTF difference magnitudes apparent ones (the comment on
    DIFFERENCE_MAGNITUDE); None: absent."""

    isdiffpos: str  # the difference's sign: t / f, 1 / 0, true / false
    magpsf_corr: str | None = None  # ALeRCE's apparent magnitude, where it corrected
    sigmapsf_corr: str | None = None  # its error (sigmapsf_corr_ext, else sigmapsf_corr)
    corrected: str | None = None  # ALeRCE: whether magpsf_corr holds (the object is in the ref)
    magnr: str | None = None  # the reference source's magnitude
    distnr: str | None = None  # its distance from the alert, arcsec

    @property
    def roles(self) -> dict[str, str]:
        """{role: source column} of the present ones."""
        return {role: c for role, c in self.__dict__.items() if c}

    @property
    def names(self) -> list[str]:
        """The source columns, present ones only."""
        return list(self.roles.values())

    def renamed(self) -> DifferenceColumns:
        """The same roles under the roles' names (Spark selects them so)."""
        return DifferenceColumns(**{role: role for role in self.roles})

    @property
    def text(self) -> str:
        """What becomes of the difference magnitudes, for the `columns:` line."""
        how = (f"apparent magnitudes from {self.magpsf_corr} where ALeRCE corrected them"
               if self.magpsf_corr else
               f"apparent magnitudes from the reference's {self.magnr} within "
               f"{ZTF_MATCH_RADIUS:g}\" ({self.distnr}; ALeRCE's correction)"
               if self.magnr and self.distnr else None)
        rest = f"where {self.isdiffpos} is false" + (" and uncorrected" if how else "")
        return (f"difference magnitudes with sign {self.isdiffpos}: "
                + (how + "; " if how else "") + f"{rest}: masked (a fading, not a brightening)")

    @classmethod
    def find(cls, flux_col: str, lower: Mapping[str, str]) -> DifferenceColumns | None:
        """The columns of `_bare_names` `lower` where `flux_col` is ZTF's difference
        magnitude and an isdiffpos column says its sign; else None."""
        if _bare(flux_col) != DIFFERENCE_MAGNITUDE or "isdiffpos" not in lower:
            return None
        corr = lower.get("magpsf_corr")
        return cls(lower["isdiffpos"], corr,
                   (lower.get("sigmapsf_corr_ext") or lower.get("sigmapsf_corr")) if corr
                   else None, lower.get("corrected") if corr else None,
                   lower.get("magnr"), lower.get("distnr"))


@dataclass
class ColumnMap:
    """Which source column plays each role (None: absent)."""

    object_id: str | None
    time: str
    flux: str
    flux_err: str | None
    band: str | None
    unit: str  # "flux" or "mag"
    quality: str | None = None  # non-zero: the point is flagged and masked
    difference: DifferenceColumns | None = None  # ZTF difference magnitudes: their sign
    limit: str | None = None  # a non-detection's limiting magnitude (no magnitude given)

    @property
    def extra(self) -> list[str]:
        """The columns read beside the roles' (quality flags, the difference's columns, the
        limiting magnitudes)."""
        return [c for c in (self.quality, *(self.difference.names if self.difference else ()),
                            self.limit) if c]


def resolve_columns(
    source: str | Path, columns: list[str], overrides: Mapping[str, str | None] | None = None,
    unit: str = "auto", naming: str = "or set it with --{flag}-column",
) -> ColumnMap:
    """Match columns by flag or alias (case-insensitive); errors list found and expected and
    say how to name a column (`naming`: the CLI's flag; the service: rename it)."""
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    lower = _bare_names(columns)
    found: dict[str, str | None] = {}
    for role in COLUMN_ALIASES:
        if role in overrides:
            name = overrides[role]
            if name not in columns:
                raise DataError(f"{source}: column {name!r} (given for {role}) not found; "
                                f"columns are {columns}")
            found[role] = name
            continue
        if role != "flux_err":  # paired with the flux column below (`_error_column`)
            found[role] = _first_alias(lower, role)
    for role in ("time", "flux"):
        if found[role] is None:
            raise DataError(
                f"{source}: no {role} column; columns are {columns}, expected one of "
                f"{list(COLUMN_ALIASES[role])} ("
                + naming.format(flag=role.replace("_", "-")) + ")")
    flux_col, time_col = found["flux"], found["time"]
    if flux_col is None or time_col is None:  # raised above; keeps the types narrow
        raise DataError(f"{source}: no time or flux column")
    if unit == "auto":
        unit = "mag" if _bare(flux_col) in MAG_NAMES else "flux"
    if "flux_err" not in found:
        found["flux_err"] = _error_column(flux_col, unit, lower)
    quality = next((lower[a] for a in QUALITY_NAMES if a in lower), None)
    difference = DifferenceColumns.find(flux_col, lower) if unit == "mag" else None
    limit = next((lower[a] for a in LIMIT_NAMES if a in lower), None) if unit == "mag" \
        else None
    return ColumnMap(found["object_id"], time_col, flux_col, found["flux_err"],
                     found["band"], unit, quality, difference, limit)


def time_in_days(values: pd.Series, source: str | Path = "input") -> np.ndarray:
    """Numeric times as they are; datetime strings or datetimes become days since 1970."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=np.float64)
    try:
        stamps = pd.to_datetime(values, utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise DataError(f"{source}: time column {values.name!r} is neither numeric nor "
                        f"datetimes ({exc})") from None
    days = (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(days=1)
    return np.asarray(days, dtype=np.float64)


def numeric_column(values: pd.Series, source: str | Path, role: str) -> np.ndarray:
    out = pd.to_numeric(values, errors="coerce")
    bad = out.isna() & values.notna()
    if bad.all() and len(values):
        raise DataError(f"{source}: column {values.name!r} ({role}) holds no numbers "
                        f"(first value {values.iloc[0]!r})")
    return out.to_numpy(dtype=np.float64)


TRUE_WORDS = {"t", "true", "1", "1.0", "+", "yes"}
FALSE_WORDS = {"f", "false", "0", "0.0", "-1", "-1.0", "-", "no"}


def _truth(values: pd.Series, source: str | Path, what: str) -> np.ndarray:
    """(rows,) 1.0 true, 0.0 false, NaN empty, of a column of flags (t / f, 1 / 0, true /
    false, booleans); any other value is a DataError naming it."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        v = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.where(np.isnan(v), np.nan, (v > 0).astype(np.float64))
    text = values.astype(str).str.strip().str.lower()
    empty = values.isna().to_numpy() | text.isin(["", "nan", "none", "null"]).to_numpy()
    yes, no = text.isin(TRUE_WORDS).to_numpy(), text.isin(FALSE_WORDS).to_numpy()
    odd = ~(yes | no | empty)
    if odd.any():
        raise DataError(f"{source}: column {values.name!r} ({what}) holds "
                        f"{values.iloc[int(np.flatnonzero(odd)[0])]!r}: expected t or f, 1 or "
                        "0, true or false")
    return np.where(empty, np.nan, yes.astype(np.float64))


def difference_magnitudes(frame: pd.DataFrame, d: DifferenceColumns, mag: np.ndarray,
                          err: np.ndarray | None, source: str | Path
                          ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """ZTF difference magnitudes made apparent where they can be (DifferenceColumns), and
    the rows of a negative difference that could not be: (magnitudes, errors, those rows)."""
    positive = _truth(frame[d.isdiffpos], source, "the difference's sign") != 0.0  # NaN: +
    done = np.zeros(mag.size, bool)
    mag = mag.copy()
    err = None if err is None else err.copy()
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if d.magpsf_corr:
            corr = numeric_column(frame[d.magpsf_corr], source, "corrected magnitude")
            done = np.isfinite(corr)
            if d.corrected:
                done &= _truth(frame[d.corrected], source, "corrected") == 1.0
            mag[done] = corr[done]
            if err is not None and d.sigmapsf_corr:
                corr_err = numeric_column(frame[d.sigmapsf_corr], source, "corrected error")
                use = done & np.isfinite(corr_err)
                err[use] = corr_err[use]
        elif d.magnr and d.distnr:
            ref = numeric_column(frame[d.magnr], source, "reference magnitude")
            near = numeric_column(frame[d.distnr], source, "reference distance")
            f_ref, f_diff = 10.0 ** (-0.4 * ref), 10.0 ** (-0.4 * mag)
            total = f_ref + np.where(positive, 1.0, -1.0) * f_diff
            # a fading below the reference's whole flux is no magnitude: left uncorrected
            done = np.isfinite(total) & (total > 0) & (near <= ZTF_MATCH_RADIUS)
            mag = np.where(done, -2.5 * np.log10(np.where(done, total, 1.0)), mag)
            if err is not None:  # ALeRCE's error for extended sources: the difference's own
                err = np.where(done, f_diff * err / np.where(done, total, 1.0), err)
    return mag, err, ~positive & ~done


def frame_to_curves(
    frame: pd.DataFrame, cmap: ColumnMap, source: str | Path = "input", default_id: str = "series",
    emit_warnings: bool = False, strict: bool = False,
) -> list[LightCurve]:
    """One curve per object of a long-format frame, repaired as `LightCurve.from_arrays`
    repairs (each curve lists its repairs), or refused where it would be (`strict`: the
    service); errors name `source`, the object and the field."""
    t = time_in_days(frame[cmap.time], source)
    f = numeric_column(frame[cmap.flux], source, "flux")
    e = None if cmap.flux_err is None or frame[cmap.flux_err].isna().all() \
        else numeric_column(frame[cmap.flux_err], source, "flux_err")  # an empty column: none
    band = None if cmap.band is None else frame[cmap.band].astype(str).to_numpy()
    flags: list[tuple[np.ndarray, str]] = []  # the rows each reason masks, and the reason
    if cmap.quality is not None:
        q = numeric_column(frame[cmap.quality], source, "quality flag")
        flags.append((np.isfinite(q) & (q != 0),
                      f"flagged in column {cmap.quality!r} (non-zero)"))
    if cmap.limit is not None:
        lim = numeric_column(frame[cmap.limit], source, "limiting magnitude")
        flags.append((~np.isfinite(f) & np.isfinite(lim),
                      f"as non-detections (no {cmap.flux}; {cmap.limit} gives the limit it "
                      "was fainter than: an upper limit, not a measurement)"))
    if cmap.difference is not None:
        f, e, negative = difference_magnitudes(frame, cmap.difference, f, e, source)
        flags.append((negative, f"with {cmap.difference.isdiffpos} false (a negative "
                      "difference: magpsf then measures a fading; no reference flux to make "
                      "it an apparent magnitude)"))
    flags = [(rows, why) for rows, why in flags if rows.any()]
    flagged = np.logical_or.reduce([rows for rows, _ in flags]) if flags else None
    if flagged is not None and not strict:
        # flagged objects are not clean: `from_arrays` masks and reports
        f = np.where(flagged, np.nan, f)
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
    clean: list[LightCurve | None] = [None] * len(uniques)
    if not strict:  # the objects with nothing to repair, all at once
        rows = slice(None) if order is None else order
        clean = clean_curves(uniques, bounds, t[rows], f[rows],
                             None if e is None else e[rows],
                             None if band is None else band[rows], cmap.unit)
    for k, name in enumerate(uniques):
        done = clean[k]
        if done is not None:
            curves.append(done)
            continue
        idx: slice | np.ndarray = slice(bounds[k], bounds[k + 1]) if order is None \
            else order[bounds[k]: bounds[k + 1]]
        try:
            curves.append(LightCurve.from_arrays(
                name, t[idx], f[idx], None if e is None else e[idx],
                None if band is None else band[idx], unit=cmap.unit,
                emit_warnings=emit_warnings, strict=strict,
                flagged=None if flagged is None else flagged[idx],
                flag_column=cmap.quality or "quality",
                flag_reason=_flag_reason(flags, idx)))
        except LightCurveError as exc:
            problem = (f"light curve {name!r}, {exc.field}: {exc.message}"
                       if strict and exc.field else str(exc))
            if cmap.object_id is None and strict and "not sorted" in problem:
                problem += "; " + _no_object_hint(frame)
            raise DataError(f"{source}: {problem}") from None
    if cmap.object_id is None and any("duplicate time" in w for w in curves[0].warnings) \
            and _repeated_share(t, band) >= STACKED_SHARE:
        curves[0].warnings.append(_no_object_hint(frame))  # several objects read as one?
        if emit_warnings:
            warnings.warn(f"light curve {curves[0].object_id!r}: {curves[0].warnings[-1]}",
                          LightCurveWarning, stacklevel=2)
    return curves


def _flag_reason(flags: Sequence[tuple[np.ndarray, str]], idx: slice | np.ndarray
                 ) -> str | None:
    """Why one object's flagged rows are masked (`flags`: each reason's rows): one reason's
    words, or each reason's count (a row counted under the first that holds it); None where
    none holds."""
    parts, counted = [], None
    for rows, why in flags:
        mine = rows[idx] if counted is None else rows[idx] & ~counted
        if mine.any():
            parts.append((int(mine.sum()), why))
            counted = mine if counted is None else counted | mine
    if len(parts) <= 1:
        return parts[0][1] if parts else None
    return ": " + "; ".join(f"{n} {why}" for n, why in parts)


# the share of rows repeating an earlier (time, band) above which a file without an object
# column is likely several objects stacked (two of them repeat half the rows); a few
# repeated clock times (NAB's daylight-saving hours: 12 of 22,000 rows) are not
STACKED_SHARE = 0.1


def _repeated_share(t: np.ndarray, band: np.ndarray | None) -> float:
    keys = pd.DataFrame({"t": t} if band is None else {"t": t, "b": band})
    return float(keys.duplicated().mean()) if len(keys) else 0.0


def _no_object_hint(frame: pd.DataFrame) -> str:
    """What to do when a file without a recognised object column repeats its times."""
    return (f"no object id column was recognised (columns are {[str(c) for c in frame.columns]}"
            f", expected one of {list(COLUMN_ALIASES['object_id'])}): if the rows are several "
            "objects, call that column object_id (or name it with lcad's --object-id-column)")


def curves_from_frame(
    frame: pd.DataFrame, source: str | Path = "input",
    columns: Mapping[str, str | None] | None = None, unit: str = "auto",
    emit_warnings: bool = False, strict: bool = False,
) -> list[LightCurve]:
    """`resolve_columns` then `frame_to_curves`: a long-format frame -> its light curves."""
    cmap = resolve_columns(source, [str(c) for c in frame.columns], columns, unit)
    return frame_to_curves(frame, cmap, source, emit_warnings=emit_warnings, strict=strict)


# what the Python API takes as curves (`Detector.fit`, `score`, `encode`, `reconstruct`)
CurvesLike = LightCurve | Sequence[LightCurve] | pd.DataFrame | np.ndarray


def as_curves(data: Any, emit_warnings: bool = True) -> list[LightCurve]:
    """The light curves of what the Python API is given: LightCurves (one or a sequence), a
    long-format DataFrame (columns found by role, as in files), or a numeric array read as a
    headerless table is (1-D: flux, time = the index from 0; (n, 2): time, flux; (n, 3):
    time, flux, flux_err). Anything else is a DataError naming what is accepted."""
    if isinstance(data, LightCurve):
        return [data]
    if isinstance(data, (list, tuple)) and not data:
        return []
    if isinstance(data, pd.DataFrame):
        return curves_from_frame(data, "DataFrame", emit_warnings=emit_warnings)
    if isinstance(data, (list, tuple)) and data and all(isinstance(c, LightCurve) for c in data):
        return list(data)
    accepted = ("give LightCurves (lcad.LightCurve.from_arrays), a DataFrame with time and "
                "flux columns (object_id, flux_err, band optional), or an array of flux (1-D) "
                "or of time, flux[, flux_err] columns")
    if isinstance(data, (str, Path)):
        raise DataError(f"{data!r} is a path, not curves: read it with lcad.read_curves; "
                        f"or {accepted}")
    if isinstance(data, (list, tuple)) and any(isinstance(c, LightCurve) for c in data):
        odd = next(type(c).__name__ for c in data if not isinstance(c, LightCurve))
        raise DataError(f"a sequence mixing LightCurves with {odd}: {accepted}")
    try:
        arr = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"cannot read a {type(data).__name__} as light curves: {accepted}"
                        ) from None
    if arr.ndim == 1 and arr.size:
        arr = arr[:, None]
    frame = (headerless_named(pd.DataFrame(arr)) if arr.ndim == 2 and arr.shape[0]
             else None)
    if frame is None:
        raise DataError(f"an array of shape {arr.shape} is not a light curve: {accepted}")
    return curves_from_frame(frame, "array", emit_warnings=emit_warnings)
