"""Typed results of Detector.encode / reconstruct / score, each turning into pandas frames."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lcad.models.scoring import Interval

if TYPE_CHECKING:
    from lcad.models.uncertainty import ScoreSpread


def finite_or_none(value: float) -> float | None:
    """NaN and inf become None: a missing score is never presented as a number."""
    v = float(value)
    return v if np.isfinite(v) else None


@dataclass
class CurveEncoding:
    object_id: str
    window_start: np.ndarray  # (n_windows,) times
    window_end: np.ndarray
    latent: np.ndarray  # (n_windows, latent)
    warnings: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.latent, columns=[f"z{i}" for i in range(self.latent.shape[1])])
        frame.insert(0, "window_end", self.window_end)
        frame.insert(0, "window_start", self.window_start)
        frame.insert(0, "object_id", self.object_id)
        return frame


@dataclass
class CurveReconstruction:
    object_id: str
    time: np.ndarray
    band: np.ndarray
    flux: np.ndarray
    reconstruction: np.ndarray
    warnings: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"object_id": self.object_id, "time": self.time, "band": self.band,
                             "flux": self.flux, "reconstruction": self.reconstruction})


@dataclass
class CurveScore:
    """Everything the detector says about one light curve."""

    object_id: str
    score: float
    p_value: float
    is_anomalous: bool
    threshold: float
    intervals: list[Interval]
    time: np.ndarray
    band: np.ndarray
    flux: np.ndarray
    reconstruction: np.ndarray
    point_score: np.ndarray
    point_p_value: np.ndarray
    is_anomaly: np.ndarray
    window_start: np.ndarray
    window_end: np.ndarray
    window_error: np.ndarray
    window_band_error: np.ndarray  # (n_windows, n_bands)
    latent: np.ndarray
    bands: list[str]
    warnings: list[str] = field(default_factory=list)
    uncertainty: ScoreSpread | None = None  # Detector.score(..., samples=N)
    # a training curve scored again: its windows were compared with the training windows
    # apart from them in time, not with themselves (`Detector.training_curves`)
    training_curve: bool = False

    def points_frame(self, rows: slice = slice(None), categorical: bool = False
                     ) -> pd.DataFrame:
        """One row per input point (those in `rows`); `categorical`: object_id and band as
        pandas categoricals (cheap to build and to write: dictionary-encoded in Parquet)."""
        n = self.time[rows].size
        oid: Any = self.object_id
        band: Any = self.band[rows]
        if categorical:
            oid = pd.Categorical.from_codes(np.zeros(n, np.int8), [self.object_id])
            if len(self.bands) == 1 and bool(np.all(band == self.bands[0])):
                band = pd.Categorical.from_codes(np.zeros(n, np.int8), self.bands)
            else:
                band = pd.Categorical(band)
        frame = pd.DataFrame({
            "object_id": oid, "time": self.time[rows], "band": band,
            "flux": self.flux[rows], "reconstruction": self.reconstruction[rows],
            "score": self.point_score[rows], "p_value": self.point_p_value[rows],
            "is_anomaly": self.is_anomaly[rows],
        })
        if self.uncertainty is not None:
            frame["score_mean"] = self.uncertainty.point_score_mean[rows]
            frame["score_std"] = self.uncertainty.point_score_std[rows]
        return frame

    def windows_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame({"object_id": self.object_id, "window_start": self.window_start,
                              "window_end": self.window_end, "error": self.window_error})
        for i, b in enumerate(self.bands):
            frame[f"error_{b}"] = self.window_band_error[:, i]
        return frame

    def intervals_frame(self, start: float = -np.inf, stop: float = np.inf) -> pd.DataFrame:
        """The flagged intervals, one row each (those peaking in [start, stop): a piece's)."""
        return pd.DataFrame([{"object_id": self.object_id, **asdict(i)} for i in self.intervals
                             if start <= i.peak_time < stop], columns=INTERVAL_COLUMNS)

    def summary(self) -> dict[str, Any]:
        out = {
            "object_id": self.object_id,
            "score": finite_or_none(self.score),
            "p_value": finite_or_none(self.p_value),
            "is_anomalous": bool(self.is_anomalous),
            "n_points": int(self.time.size),
            "n_anomalous_points": int(np.sum(self.is_anomaly)),
            "n_intervals": len(self.intervals),
        }
        if self.uncertainty is not None:
            out["score_mean"] = finite_or_none(self.uncertainty.score_mean)
            out["score_std"] = finite_or_none(self.uncertainty.score_std)
        return out


# the intervals table: its columns and the types every writer gives them
INTERVAL_TYPES = {"object_id": str, "start": float, "end": float, "peak_time": float,
                  "peak_score": float, "p_value": float, "sign": str, "n_points": "int64"}
INTERVAL_COLUMNS = list(INTERVAL_TYPES)


@dataclass
class ScoreResult:
    """Scores of many curves, plus those that could not be scored and why."""

    curves: list[CurveScore]
    skipped: dict[str, str] = field(default_factory=dict)

    def __iter__(self) -> Any:
        return iter(self.curves)

    def __len__(self) -> int:
        return len(self.curves)

    def __getitem__(self, i: int) -> CurveScore:
        return self.curves[i]

    def to_frame(self) -> pd.DataFrame:
        """One row per object: score, p-value, verdict."""
        return pd.DataFrame([c.summary() for c in self.curves])

    def points_frame(self, categorical: bool = False) -> pd.DataFrame:
        """Every curve's `CurveScore.points_frame`, one after the other, built column by
        column (a frame per curve cost 2.3 ms a survey object, half of scoring it)."""
        cs = self.curves
        if not cs:
            return pd.DataFrame()
        sizes = np.array([c.time.size for c in cs])
        ids = [c.object_id for c in cs]
        bands = np.concatenate([c.band for c in cs])
        oid: Any
        band: Any
        if categorical:  # categories in order of appearance (as union_categoricals gives)
            id_cats = list(dict.fromkeys(ids))
            code = {o: i for i, o in enumerate(id_cats)}
            oid = pd.Categorical.from_codes(np.repeat([code[o] for o in ids], sizes), id_cats)
            band_cats: dict[str, None] = {}
            for c in cs:  # each curve's bands in sorted order
                band_cats.update(dict.fromkeys(sorted(set(c.band.tolist()))))
            band = pd.Categorical(bands, categories=list(band_cats))
        else:
            oid, band = np.repeat(np.array(ids, dtype=object), sizes), bands

        def column(get: Any) -> np.ndarray:
            return np.concatenate([get(c) for c in cs])

        frame = pd.DataFrame({
            "object_id": oid, "time": column(lambda c: c.time), "band": band,
            "flux": column(lambda c: c.flux),
            "reconstruction": column(lambda c: c.reconstruction),
            "score": column(lambda c: c.point_score), "p_value": column(lambda c: c.point_p_value),
            "is_anomaly": column(lambda c: c.is_anomaly),
        })
        if any(c.uncertainty is not None for c in cs):
            def spread(c: CurveScore, key: str) -> np.ndarray:
                return np.full(c.time.size, np.nan) if c.uncertainty is None \
                    else getattr(c.uncertainty, key)
            frame["score_mean"] = column(lambda c: spread(c, "point_score_mean"))
            frame["score_std"] = column(lambda c: spread(c, "point_score_std"))
        return frame

    def intervals_frame(self) -> pd.DataFrame:
        frames = [c.intervals_frame() for c in self.curves]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
