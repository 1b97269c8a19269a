"""`LightCurve`: one object's observations, repaired and sorted, with every repair reported."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lcad.models.errors import LightCurveError

MAG_ZERO_POINT = 22.5  # nanomaggies for SDSS-like magnitudes; any constant works after scaling
DEFAULT_BAND = "default"
# magnitudes outside this range are sentinels (SDSS 100.011, -99, 99.99) or junk: the
# brightest object in the sky is -27, the faintest ever detected ~31
MAG_RANGE = (-30.0, 40.0)
MAX_MAG_ERR = 10.0  # a magnitude error this large is a sentinel (99.999), not a measurement
# a flux this large is a units mistake or a sentinel (-9.99e36-style fills stay below it):
# squares of fluxes, and reconstructions mapped back to flux units, must stay finite in
# float64 (max 1.8e308, so |flux| < 1.3e154 with room for the model's output range)
MAX_ABS_FLUX = 1e100


class LightCurveWarning(UserWarning):
    """A repair made to a light curve (dropped, masked, sorted or merged points)."""


@dataclass
class LightCurve:
    """Observations of one object in time order, one row per (band, time).

    `mask` is True where the flux is usable; masked points carry no weight anywhere.
    `warnings` lists every repair made when the curve was built.
    """

    object_id: str
    time: np.ndarray
    flux: np.ndarray
    flux_err: np.ndarray | None = None
    band: np.ndarray | None = None
    mask: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    warnings: list[str] = field(default_factory=list)
    unit: str = "flux"  # what the input was in: "mag" was converted to flux (MAG_ZERO_POINT)

    def __post_init__(self) -> None:
        if self.mask.size == 0 and np.size(self.time):
            # built from raw arrays, without a mask (`LightCurve("id", t, flux)`): validated
            # and repaired as `from_arrays` does, not left with no usable point
            built = LightCurve.from_arrays(self.object_id, self.time, self.flux,
                                           self.flux_err, self.band, unit=self.unit)
            self.__dict__.update(built.__dict__)
        elif self.mask.size != np.size(self.time):
            raise LightCurveError(f"mask has {self.mask.size} values but time has "
                                  f"{np.size(self.time)}", object_id=str(self.object_id),
                                  field="mask")

    def __len__(self) -> int:
        return int(self.time.size)

    @property
    def bands(self) -> list[str]:
        if self.band is None:
            return [DEFAULT_BAND]
        return sorted({str(b) for b in self.band})

    def band_labels(self) -> np.ndarray:
        if self.band is None:  # one label for every point: a read-only view, no copies
            return np.broadcast_to(np.array([DEFAULT_BAND], dtype=object), self.time.shape)
        return self.band

    def slice_time(self, start: float, stop: float, suffix: str = "") -> LightCurve:
        """Points with start <= time < stop, as a new curve (no new repairs)."""
        keep = (self.time >= start) & (self.time < stop)
        return LightCurve(
            object_id=self.object_id + suffix,
            time=self.time[keep],
            flux=self.flux[keep],
            flux_err=None if self.flux_err is None else self.flux_err[keep],
            band=None if self.band is None else self.band[keep],
            mask=self.mask[keep],
            warnings=[],
        )

    @classmethod
    def from_arrays(
        cls,
        object_id: Any,
        time: Any,
        flux: Any,
        flux_err: Any = None,
        band: Any = None,
        *,
        unit: str = "flux",
        emit_warnings: bool = True,
        strict: bool = False,
        flagged: Any = None,
        flag_column: str = "quality",
        flag_reason: str | None = None,
    ) -> LightCurve:
        """Validate and repair raw arrays.

        Non-finite times are dropped, non-finite fluxes (or non-finite/negative errors) are
        masked, unsorted times are sorted, duplicate (band, time) pairs are merged by their
        weighted mean. With unit="mag", magnitudes and their errors are converted to flux.
        `strict` (the service): what would be repaired is an error naming the first value
        (field "flux[3]", "time"), not a repair. `flagged`: points a quality column marks
        (`flag_column`, non-zero), masked and reported in every mode (a flag is the data's
        own verdict, not a repair); `flag_reason` says why they are, where that is more
        than a quality column (ZTF's negative differences: `frames.difference_magnitudes`).
        """
        oid = str(object_id)
        t = _as_float_array(time, "time", oid)
        f = _as_float_array(flux, "flux" if unit == "flux" else "mag", oid)
        n = t.size
        if n == 0:
            raise LightCurveError("no points", object_id=oid, field="time")
        if f.size != n:
            raise LightCurveError(
                f"flux has {f.size} values but time has {n}", object_id=oid, field="flux"
            )
        e = None if flux_err is None else _as_float_array(flux_err, "flux_err", oid)
        if e is not None and e.size != n:
            raise LightCurveError(
                f"flux_err has {e.size} values but time has {n}", object_id=oid, field="flux_err"
            )
        b = None
        if band is not None:
            b = np.asarray(band, dtype=object).ravel()
            if b.size != n:
                raise LightCurveError(
                    f"band has {b.size} values but time has {n}", object_id=oid, field="band"
                )
            b = np.array([str(x) for x in b], dtype=object)
        flag = None if flagged is None else np.asarray(flagged, dtype=bool).ravel()
        if flag is not None and flag.size != n:
            raise LightCurveError(f"{flag_column} has {flag.size} values but time has {n}",
                                  object_id=oid, field=flag_column)
        if unit not in ("flux", "mag"):
            raise LightCurveError(f"unit must be 'flux' or 'mag', not {unit!r}", object_id=oid)
        if strict:
            _refuse_repairs(oid, t, f, e, b)

        repairs: list[str] = []
        bad_time = ~np.isfinite(t)
        if bad_time.any():
            keep = ~bad_time
            t, f = t[keep], f[keep]
            e = None if e is None else e[keep]
            b = None if b is None else b[keep]
            flag = None if flag is None else flag[keep]
            repairs.append(f"dropped {int(bad_time.sum())} point(s) with non-finite time")
        if t.size == 0:
            raise LightCurveError("no point has a finite time", object_id=oid, field="time")

        sentinel = _sentinels(oid, f, e, strict) if unit == "mag" else None
        if unit == "mag":
            with np.errstate(over="ignore", invalid="ignore"):
                new_f = 10.0 ** (-0.4 * (f - MAG_ZERO_POINT))
                if e is not None:
                    e = 0.4 * np.log(10.0) * new_f * e
            f = new_f

        mask = np.isfinite(f)
        nonfinite = ~mask
        if flag is not None and flag.any():
            why = flag_reason or f"flagged in column {flag_column!r} (non-zero)"
            repairs.append(f"masked {int(flag.sum())} point(s)"
                           + ("" if why.startswith(":") else " ") + why)  # ": a, b" lists
            nonfinite &= ~flag
            mask &= ~flag
        if nonfinite.any():
            repairs.append(f"masked {int(nonfinite.sum())} point(s) with non-finite flux")
        huge = _huge_fluxes(oid, f, mask, strict)
        if huge.any():
            repairs.append(f"masked {int(huge.sum())} point(s) with |flux| > "
                           f"{MAX_ABS_FLUX:g} (rescale the fluxes to physical units)")
            mask &= ~huge
        if sentinel is not None and (sentinel & mask).any():
            repairs.append(
                f"masked {int((sentinel & mask).sum())} point(s) with a sentinel or "
                f"non-physical magnitude or error (magnitudes outside {MAG_RANGE[0]:g}.."
                f"{MAG_RANGE[1]:g}, errors >= {MAX_MAG_ERR:g})")
            mask &= ~sentinel
        if e is not None:
            bad_err = ~(np.isfinite(e) & (e > 0)) & mask
            if bad_err.any():
                repairs.append(
                    f"masked {int(bad_err.sum())} point(s) with a non-finite or non-positive error"
                )
                mask &= ~bad_err
        if not mask.any():
            raise LightCurveError("every flux value is NaN or masked", object_id=oid, field="flux")

        if np.any(np.diff(t) < 0):
            if _first_unsorted(t, b) is not None:  # grouped by band, each band in time
                repairs.append("times were not sorted; sorted them")  # order: a layout
            order = np.argsort(t, kind="stable")
            t, f, mask = t[order], f[order], mask[order]
            e = None if e is None else e[order]
            b = None if b is None else b[order]

        t, f, e, b, mask, n_merged = _merge_duplicates(t, f, e, b, mask)
        if n_merged:
            repairs.append(f"merged {n_merged} point(s) with a duplicate time")

        f = np.where(mask, f, np.nan)
        if e is not None:
            e = np.where(mask, e, np.nan)
        if emit_warnings:
            for msg in repairs:
                warnings.warn(f"light curve {oid!r}: {msg}", LightCurveWarning, stacklevel=2)
        return cls(oid, t, f, e, b, mask, repairs, unit)


def clean_curves(names: list[str], bounds: np.ndarray, t: np.ndarray, f: np.ndarray,
                 e: np.ndarray | None, b: np.ndarray | None, unit: str = "flux"
                 ) -> list[LightCurve | None]:
    """The curves of many objects whose rows lie together (object k: rows bounds[k] to
    bounds[k + 1], in file order) that `LightCurve.from_arrays` would take as they are, built
    with array operations over all rows at once (a file of survey objects: ~10x faster);
    the same curves. None for an object with anything to repair or to refuse (a non-finite
    time, a masked point, a band out of time order, a repeated time): `from_arrays` it."""
    import pandas as pd  # (not at import: `import lcad` stays light)

    n_obj = len(names)
    obj = np.repeat(np.arange(n_obj), np.diff(bounds))
    t = np.array(t, dtype=np.float64)  # one copy the curves share (they own their arrays)
    f = np.array(f, dtype=np.float64)
    e = None if e is None else np.array(e, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if unit == "mag":
            bad = _sentinels("", f, e, False)
            f = 10.0 ** (-0.4 * (f - MAG_ZERO_POINT))
            if e is not None:
                e = 0.4 * np.log(10.0) * f * e
        else:
            bad = np.zeros(f.size, bool)
        bad |= ~np.isfinite(t) | ~np.isfinite(f) | (np.abs(f) > MAX_ABS_FLUX)
        if e is not None:
            bad |= ~(np.isfinite(e) & (e > 0))
    # each band in time order (bands may come one after the other) and no time twice in a
    # band (from_arrays merges those; one time in two bands is no repair), band by band
    codes = np.zeros(t.size, np.int64) if b is None else pd.factorize(b)[0]
    for band in range(int(codes.max(initial=0)) + 1):
        in_band = np.flatnonzero(codes == band) if b is not None else np.arange(t.size)
        step = np.diff(t[in_band])
        bad[in_band[1:][(step <= 0) & (obj[in_band][1:] == obj[in_band][:-1])]] = True
    refused = np.zeros(n_obj, bool)
    refused[obj[bad]] = True
    unsorted = np.zeros(n_obj, bool)  # bands one after the other: sorted below
    unsorted[obj[1:][(obj[1:] == obj[:-1]) & (np.diff(t) < 0)]] = True
    mask = np.ones(t.size, bool)
    out: list[LightCurve | None] = [None] * n_obj
    for k in np.flatnonzero(~refused).tolist():
        rows = slice(bounds[k], bounds[k + 1])
        tk, fk = t[rows], f[rows]
        ek = None if e is None else e[rows]
        bk = None if b is None else b[rows]
        if unsorted[k]:  # as from_arrays sorts: stable, ties in file order
            order = np.argsort(tk, kind="stable")
            tk, fk = tk[order], fk[order]
            ek = None if ek is None else ek[order]
            bk = None if bk is None else bk[order]
        out[k] = LightCurve(names[k], tk, fk, ek, bk, mask[rows], [], unit)
    return out


def to_magnitudes(flux: np.ndarray, err: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Fluxes made from magnitudes back to magnitudes (non-positive fluxes: NaN), and their
    errors."""
    f = np.asarray(flux, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(f > 0, MAG_ZERO_POINT - 2.5 * np.log10(f), np.nan)
        mag_err = None if err is None else np.where(f > 0, err / (0.4 * np.log(10.0) * f),
                                                    np.nan)
    return mag, mag_err


def _sentinels(oid: str, mag: np.ndarray, err: np.ndarray | None, strict: bool
               ) -> np.ndarray:
    """Magnitudes outside MAG_RANGE, or errors of MAX_MAG_ERR and more (99.999-style)."""
    bad = np.isfinite(mag) & ((mag < MAG_RANGE[0]) | (mag > MAG_RANGE[1]))
    if err is not None:
        bad |= np.isfinite(mag) & np.isfinite(err) & (err >= MAX_MAG_ERR)
    if strict and bad.any():
        k = int(np.flatnonzero(bad)[0])
        shown = f"{mag[k]:g}" if err is None else f"{mag[k]:g} +- {err[k]:g}"
        raise LightCurveError(f"is a sentinel or non-physical value ({shown}); magnitudes lie "
                              f"in {MAG_RANGE}, errors below {MAX_MAG_ERR:g}",
                              object_id=oid, field=f"mag[{k}]")
    return bad


def _huge_fluxes(oid: str, f: np.ndarray, finite: np.ndarray, strict: bool) -> np.ndarray:
    """Finite fluxes beyond MAX_ABS_FLUX (a named error when strict)."""
    with np.errstate(invalid="ignore"):
        huge = finite & (np.abs(f) > MAX_ABS_FLUX)
    if strict and huge.any():
        k = int(np.flatnonzero(huge)[0])
        raise LightCurveError(f"is {f[k]:g}, beyond +-{MAX_ABS_FLUX:g}: no flux is this large "
                              "(a units mistake or a fill value); rescale or drop it",
                              object_id=oid, field=f"flux[{k}]")
    return huge


STRICT_NOTE = ("the HTTP API scores what it is sent and repairs nothing: drop those points "
               "(`lcad score` masks them and reports it)")


def _first_unsorted(t: np.ndarray, b: np.ndarray | None) -> int | None:
    """Index of the first time earlier than the previous one of its band (of the series
    when there are no bands); None when every band is in time order (a multi-band series
    may list its bands one after the other, as survey files do)."""
    if b is None:
        back = np.flatnonzero(np.diff(t) < 0)
        return int(back[0]) + 1 if back.size else None
    first = None
    for band in dict.fromkeys(b.tolist()):
        idx = np.flatnonzero(b == band)
        back = np.flatnonzero(np.diff(t[idx]) < 0)
        if back.size:
            k = int(idx[back[0] + 1])
            first = k if first is None else min(first, k)
    return first


def _refuse_repairs(oid: str, t: np.ndarray, f: np.ndarray, e: np.ndarray | None,
                    b: np.ndarray | None = None) -> None:
    """Strict input: the first non-finite value, non-positive error or time earlier than
    the previous one of its band."""
    for name, arr in (("time", t), ("flux", f), ("flux_err", e)):
        if arr is None:
            continue
        nonfinite = np.flatnonzero(~np.isfinite(arr))
        if nonfinite.size:
            k = int(nonfinite[0])
            kind = "NaN" if np.isnan(arr[k]) else "infinite"
            raise LightCurveError(f"is {kind} ({nonfinite.size} non-finite value(s)); "
                                  f"{STRICT_NOTE}", object_id=oid, field=f"{name}[{k}]")
    if e is not None and (e <= 0).any():
        raise LightCurveError("must be positive", object_id=oid,
                              field=f"flux_err[{int(np.flatnonzero(e <= 0)[0])}]")
    back = _first_unsorted(t, b)
    if back is not None:
        if b is None:
            raise LightCurveError(f"times are not sorted (time[{back}]={t[back]:g} < "
                                  f"time[{back - 1}]={t[back - 1]:g})", object_id=oid,
                                  field="time")
        j = int(np.flatnonzero(b[:back] == b[back])[-1])
        raise LightCurveError(f"times of band {b[back]!r} are not sorted (time[{back}]="
                              f"{t[back]:g} < time[{j}]={t[j]:g}); each band's times must "
                              "increase (bands may come one after the other)",
                              object_id=oid, field="time")


def _as_float_array(values: Any, name: str, oid: str) -> np.ndarray:
    if values is None:
        raise LightCurveError(f"{name} is missing", object_id=oid, field=name)
    if isinstance(values, str | bytes):
        raise LightCurveError(f"{name} must be a list of numbers, not a string", object_id=oid,
                              field=name)
    try:
        arr = np.array(values, dtype=np.float64)  # a copy: the curve owns its arrays
    except (TypeError, ValueError):
        raise LightCurveError(f"{name} must contain only numbers", object_id=oid,
                              field=name) from None
    if arr.ndim != 1:
        raise LightCurveError(f"{name} must be one-dimensional, got shape {arr.shape}",
                              object_id=oid, field=name)
    return arr


def _merge_duplicates(
    t: np.ndarray,
    f: np.ndarray,
    e: np.ndarray | None,
    b: np.ndarray | None,
    mask: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray, int]:
    """Merge rows with equal (band, time): inverse-variance (or plain) mean of valid fluxes.
    `t` is sorted."""
    if not np.any(t[1:] == t[:-1]):  # distinct times: nothing to merge (the usual case)
        return t, f, e, b, mask, 0
    labels = np.zeros(t.size, dtype=np.int64) if b is None else np.unique(b, return_inverse=True)[1]
    keys = np.stack([labels.astype(np.float64), t])
    _, first, inverse = np.unique(keys, axis=1, return_index=True, return_inverse=True)
    n_groups = first.size
    if n_groups == t.size:
        return t, f, e, b, mask, 0
    inverse = inverse.ravel()
    w = np.where(mask, 1.0 if e is None else 1.0 / np.where(mask, e, 1.0) ** 2, 0.0)
    wsum = np.bincount(inverse, weights=w, minlength=n_groups)
    fsum = np.bincount(inverse, weights=np.where(mask, f, 0.0) * w, minlength=n_groups)
    valid = wsum > 0
    new_f = np.where(valid, fsum / np.where(valid, wsum, 1.0), np.nan)
    new_e = None
    if e is not None:
        new_e = np.where(valid, 1.0 / np.sqrt(np.where(valid, wsum, 1.0)), np.nan)
    # groups come out sorted by (band label, time): restore time order
    new_t = t[first]
    new_b = None if b is None else b[first]
    order = np.argsort(new_t, kind="stable")
    merged = t.size - n_groups
    new_e = None if new_e is None else new_e[order]
    new_b = None if new_b is None else new_b[order]
    return new_t[order], new_f[order], new_e, new_b, valid[order], merged
