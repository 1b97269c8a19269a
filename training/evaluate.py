"""Metrics against labels (points, events or objects), beside classical baselines."""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lcad.models.detector import Detector
from lcad.models.errors import DataError, LcadError
from lcad.models.frames import COLUMN_ALIASES, alias_column, time_in_days
from lcad.models.lightcurve import LightCurve
from lcad.models.scoring import spans_mask
from lcad.models.synthetic import Injection, inject
from lcad.models.windows import coverage_mean


class LabelError(LcadError, ValueError):
    """Labels that cannot be read or that match none of the data."""


# the UCR anomaly archive's rule: a series' anomaly is located when its top-scored point lies
# within 100 points of the labelled stretch (Wu & Keogh 2021)
UCR_MARGIN = 100.0


@dataclass
class Labels:
    kind: str  # "events", "points" or "objects"
    events: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    points: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    objects: dict[str, bool] = field(default_factory=dict)
    # events: how far (in time) from a labelled stretch a top-scored point still locates it
    margin: float = 0.0
    # per object, the first time the metrics count (earlier points are scored as context)
    evaluated_from: dict[str, float] = field(default_factory=dict)
    # a labels file without an object id column (one series' windows or points): its labels
    # are kept under ONE_OBJECT and given to the data's one object (`for_data`)
    source: str = ""

    def for_data(self, object_ids: Sequence[str]) -> Labels:
        """These labels with an id-less file's labels given to the data's one object; data
        of several objects is a `LabelError` (which one is meant cannot be told)."""
        if ONE_OBJECT not in self.events and ONE_OBJECT not in self.points:
            return self
        ids = list(dict.fromkeys(object_ids))
        if len(ids) != 1:
            raise LabelError(
                f"{self.source}: no object id column, and the data holds {len(ids)} objects "
                f"({ids[:3]}...): add an object_id column naming the object of each label")
        (oid,) = ids
        events = {oid: self.events[ONE_OBJECT]} if ONE_OBJECT in self.events else {}
        points = {oid: self.points[ONE_OBJECT]} if ONE_OBJECT in self.points else {}
        return Labels(self.kind, events, points, margin=self.margin, source=self.source)


ONE_OBJECT = "\0the one object"  # no object id can be this (`Labels.for_data`)


def ucr_labels(data: str | Path) -> Labels:
    """The anomalies UCR anomaly archive files name (`io.ucr_split`), as event labels in
    their rows, with the archive's margin for `located`; the metrics count the points after
    the training part (the series is scored whole, the training part as context)."""
    from lcad.models.io import data_files, ucr_split

    labels = Labels("events", margin=UCR_MARGIN)
    for f in data_files(data):
        split = ucr_split(f)
        if split is not None:
            labels.events[f.stem] = [(float(split.begin), float(split.end))]
            labels.evaluated_from[f.stem] = float(split.train_end)
    if not labels.events:
        raise LabelError(f"{data}: no --labels given, and no file there is named as the UCR "
                         "anomaly archive names them (<n>_UCR_Anomaly_<name>_<train>_<begin>_"
                         "<end>.txt): give --labels FILE")
    return labels


def read_labels(path: Path) -> Labels:
    """A labels CSV (events, points or objects; times as numbers or datetimes, read as the
    data's are) or NAB's JSON (`combined_windows.json`: windows, `combined_labels.json`:
    anomaly times, keyed by "family/file.csv": the object is the file's name)."""
    if not path.is_file():
        raise LabelError(f"{path}: labels file not found")
    if path.suffix.lower() == ".json":
        return _nab_labels(path)
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise LabelError(f"{path}: cannot be read as CSV: {exc}") from None
    # the id (and a point label's time) by the data's own column names: objectId, oid, mjd
    columns = [str(c) for c in frame.columns]
    frame = frame.rename(columns={found: role for role in ("object_id", "time")
                                  if (found := alias_column(columns, role)) is not None})
    cols = set(frame.columns)
    if "object_id" not in cols and ({"start", "end"} <= cols or {"time", "label"} <= cols):
        frame["object_id"] = ONE_OBJECT  # one series' labels: the data's one object
        cols.add("object_id")
    if "object_id" not in cols:
        raise LabelError(f"{path}: no object id column; columns are {sorted(map(str, cols))}, "
                         f"expected object_id or one of {list(COLUMN_ALIASES['object_id'])}")
    frame["object_id"] = frame["object_id"].astype(str)
    if {"start", "end"} <= cols:
        labels = Labels("events", source=str(path))
        starts, ends = (_label_times(frame[c], path) for c in ("start", "end"))
        for oid, a, b in zip(frame["object_id"], starts, ends, strict=True):
            labels.events.setdefault(oid, []).append((float(a), float(b)))
        return labels
    if {"time", "label"} <= cols:
        labels = Labels("points", source=str(path))
        frame["time"] = _label_times(frame["time"], path)
        for oid, g in frame.groupby("object_id"):
            labels.points[str(oid)] = (g["time"].to_numpy(float), g["label"].to_numpy(bool))
        return labels
    if "label" in cols:
        return Labels("objects", objects={str(r.object_id): bool(r.label)
                                          for r in frame.itertuples(index=False)})
    raise LabelError(f"{path}: columns are {sorted(cols)}; expected object_id with start,end "
                     "(events), time,label (points) or label (objects)")


def _label_times(values: pd.Series, path: Path) -> np.ndarray:
    """A labels column of times as the data's are read (numbers as they are, datetimes as
    days since 1970); an unreadable or empty time is a `LabelError` naming the column."""
    try:
        days = time_in_days(values, path)
    except DataError as exc:
        raise LabelError(f"{exc}: give numbers in the data's time unit or datetimes") from None
    if np.isnan(days).any():
        row = int(np.flatnonzero(np.isnan(days))[0])
        raise LabelError(f"{path}: column {values.name!r} is empty in label {row + 1}: give "
                         "every label a time (numbers in the data's time unit or datetimes)")
    return days


def _nab_labels(path: Path) -> Labels:
    """NAB's label files: {"family/file.csv": [[start, end], ...]} (windows) or
    {"family/file.csv": [time, ...]} (anomaly times, each an event of no length)."""
    import json

    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LabelError(f"{path}: not JSON ({exc})") from None
    shape = ('expected NAB\'s labels: {"family/file.csv": [[start, end], ...]} or '
             '{"family/file.csv": [time, ...]}')
    if not isinstance(raw, dict) or not all(isinstance(v, list) for v in raw.values()):
        raise LabelError(f"{path}: {shape}")
    labels = Labels("events")
    for key, spans in raw.items():
        pairs = [s if isinstance(s, list) else [s, s] for s in spans]
        if any(len(p) != 2 for p in pairs):
            raise LabelError(f"{path}: {key!r} holds {spans[:2]!r}...: {shape}")
        # numbers stay numbers (a float column), timestamps are strings (read as dates)
        times = _label_times(pd.Series([t for p in pairs for t in p], name=key),
                             path) if pairs else np.empty(0)
        labels.events[Path(key).stem] = [(float(a), float(b))
                                         for a, b in zip(times[::2], times[1::2], strict=True)]
    return labels


def point_truth(object_id: str, time: np.ndarray, labels: Labels) -> np.ndarray | None:
    """Per-point truth of one curve; None when the labels do not name it."""
    n = time.size
    if labels.kind == "events":
        spans = labels.events.get(object_id)
        if spans is None:
            return None
        y = np.zeros(n, bool)
        for a, b in spans:
            y |= (time >= a) & (time <= b)
        return y
    if labels.kind == "points":
        if object_id not in labels.points:
            return None
        t, lab = labels.points[object_id]
        y = np.zeros(n, bool)
        idx = np.minimum(np.searchsorted(time, t), n - 1)
        ok = np.abs(time[idx] - t) < 1e-9
        y[idx[ok]] = lab[ok]
        return y
    return None


def ranking_metrics(y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

    ok = np.isfinite(s)
    y, s = y[ok], s[ok]
    if y.all() or not y.any():
        return {}
    prec, rec, _ = precision_recall_curve(y, s)
    f1 = np.max(np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0))
    return {"roc_auc": float(roc_auc_score(y, s)), "pr_auc": float(average_precision_score(y, s)),
            "best_f1": float(f1)}


AT_K = (10, 25, 50)


def at_k_metrics(y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    """What survey papers report: anomalies among the first k objects inspected.
    `precision_at_k` for k = the number of anomalies (R-precision: recall there is the same),
    and `precision_at_10`, `recall_at_10`, ... for each k in AT_K below the number of
    objects. Unscored objects (NaN) rank last."""
    order = np.argsort(-np.nan_to_num(np.asarray(s, dtype=float), nan=-np.inf),
                       kind="stable")
    hits = np.cumsum(np.asarray(y, dtype=bool)[order])
    n_pos = int(hits[-1]) if hits.size else 0
    out: dict[str, float] = {}
    if not n_pos:
        return out
    out["precision_at_k"] = float(hits[n_pos - 1] / n_pos)
    for k in AT_K:
        if k < y.size:
            out[f"precision_at_{k}"] = float(hits[k - 1] / k)
            out[f"recall_at_{k}"] = float(hits[k - 1] / n_pos)
    return out


def features_iforest(curves: Sequence[LightCurve], seed: int = 0) -> np.ndarray:
    """The survey baseline: light-curve features (models/features.py) + Isolation Forest,
    fitted on the objects it ranks (unsupervised, as CRTS / SNAD / Fink use it)."""
    from sklearn.ensemble import IsolationForest

    from lcad.models.features import feature_matrix, robust_standardize

    x = robust_standardize(feature_matrix(curves)[0])
    forest = IsolationForest(n_estimators=200, random_state=seed).fit(x)
    return -forest.score_samples(x)


def true_runs(y: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the runs of True in a boolean array (stop exclusive)."""
    edges = np.diff(np.concatenate([[0], np.asarray(y).astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(),
                    strict=True))


def interval_mask(time: np.ndarray, intervals: Sequence[Any]) -> np.ndarray:
    """True at the times some interval (`.start`, `.end`) spans. Intervals start and end at
    grid times, which can round apart from the observed ones: the ends are widened by a
    millionth of the cadence."""
    t = np.asarray(time, np.float64)
    out = np.zeros(t.size, bool)
    if not len(intervals) or not t.size:
        return out
    order = np.argsort(t, kind="stable")
    ts = t[order]
    steps = np.diff(ts)
    steps = steps[np.isfinite(steps) & (steps > 0)]
    eps = 1e-6 * (float(np.median(steps)) if steps.size else 1.0)
    out[order] = spans_mask(ts, [iv.start - eps for iv in intervals],
                            [iv.end + eps for iv in intervals])
    return out


@dataclass
class IntervalCounts:
    """Labelled events against flagged intervals, summed over curves (`add` one at a time)."""

    events: int = 0
    found: int = 0  # events an interval touches
    coverage: list[float] = field(default_factory=list)  # each found event's share inside
    inside: int = 0  # interval points inside an event
    total: int = 0  # interval points

    def add(self, truth: np.ndarray, in_interval: np.ndarray) -> None:
        self.inside += int(np.sum(in_interval & truth))
        self.total += int(np.sum(in_interval))
        for a, b in true_runs(truth):
            self.events += 1
            if in_interval[a:b].any():
                self.found += 1
                self.coverage.append(float(in_interval[a:b].mean()))

    def metrics(self) -> dict[str, float]:
        """`interval_found` (share of events touched), `interval_coverage` (mean share of a
        found event's points inside intervals), `interval_precision` (share of interval
        points inside events); NaN where undefined."""
        nan = float("nan")
        return {"interval_found": self.found / self.events if self.events else nan,
                "interval_coverage": float(np.mean(self.coverage)) if self.coverage else nan,
                "interval_precision": self.inside / self.total if self.total else nan}


def buffered_labels(y: np.ndarray, buffer: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Labels with a soft margin as TSB-AD's VUS builds them: `buffer // 2` points on each
    side of every event, weighted sqrt(1 - d / buffer) at distance d from its first or last
    point, capped at 1; and the runs of the widened events, two merged where they overlap."""
    soft = np.asarray(y, dtype=float).copy()
    events = true_runs(y)
    n, half = soft.size, buffer // 2
    if half:
        for a, b in events:
            after = np.arange(b, min(b + half, n))
            soft[after] += np.sqrt(1 - (after - (b - 1)) / buffer)
            before = np.arange(max(a - half, 0), a)
            soft[before] += np.sqrt(1 - (a - before) / buffer)
        soft = np.minimum(soft, 1.0)
    runs: list[tuple[int, int]] = []
    for a, b in events:
        lo, hi = max(a - half, 0), min(b + half, n)
        if runs and lo < runs[-1][1]:
            runs[-1] = (runs[-1][0], hi)
        else:
            runs.append((lo, hi))
    return soft, runs


@dataclass
class _Levels:
    """Scores sorted once for every buffer of a VUS: NaN ranks last; `counts[j]` points
    score at or above the j-th of `thresholds` levels sampled evenly from the sorted scores
    (a prefix of the descending order, ties included), `hits[j]` of them labelled."""

    s: np.ndarray
    order: np.ndarray
    levels: np.ndarray
    counts: np.ndarray
    hits: np.ndarray

    @classmethod
    def of(cls, y: np.ndarray, s: np.ndarray, thresholds: int = 250) -> _Levels:
        s = np.nan_to_num(np.asarray(s, dtype=float), nan=-np.inf)
        order = np.argsort(-s, kind="stable")
        desc = s[order]
        levels = desc[np.linspace(0, s.size - 1, thresholds).astype(int)]
        counts = np.searchsorted(-desc, -levels, side="right")
        hits = np.concatenate([[0.0], np.cumsum(np.asarray(y, dtype=float)[order])])[counts]
        return cls(s, order, levels, counts, hits)


def _range_pr_auc(y: np.ndarray, ranked: _Levels, buffer: int) -> float:
    soft, runs = buffered_labels(y, buffer)
    if not runs:
        return float("nan")
    counts = ranked.counts
    tp = np.concatenate([[0.0], np.cumsum(soft[ranked.order])])[counts]
    run_max = np.array([ranked.s[a:b].max() for a, b in runs])
    touched = (run_max[None, :] >= ranked.levels[:, None]).mean(axis=1)
    # the positives: the events' points (all counted at the lowest level, every point's)
    # and half the margin weight flagged at this level
    positives = float(ranked.hits[-1]) + (tp - ranked.hits) / 2
    recall = np.concatenate([[0.0], np.minimum(tp / positives, 1.0) * touched])
    precision = tp / np.maximum(counts, 1)
    return float(np.sum(np.diff(recall) * precision))  # a step sum, as TSB-AD integrates


def range_pr_auc(y: np.ndarray, s: np.ndarray, buffer: int, thresholds: int = 250) -> float:
    """Range-based PR-AUC as the TSB-AD benchmark computes it (its `RangeAUC_volume_opt`,
    after Paparrizos et al., PVLDB 2022): precision and recall on the buffered labels, the
    positives counting half the margin weight flagged, recall times the share of widened
    events touched, summed in steps over `thresholds` score levels sampled evenly from the
    sorted scores. NaN scores rank last."""
    return _range_pr_auc(y, _Levels.of(y, s, thresholds), buffer)


def vus_pr(y: np.ndarray, s: np.ndarray, max_buffer: int) -> float:
    """Volume under the range-PR surface: the mean range-based PR-AUC over buffers 0 ..
    `max_buffer` points (TSB-AD's VUS-PR; it credits flags near an event, and whole events
    over their peaks, unlike the point PR-AUC). The scores are sorted once for all buffers."""
    y = np.asarray(y, dtype=bool)
    if not y.any() or y.all():
        return float("nan")
    ranked = _Levels.of(y, s)
    return float(np.mean([_range_pr_auc(y, ranked, b) for b in range(max_buffer + 1)]))


def event_recall(scores: Sequence[np.ndarray], truths: Sequence[np.ndarray], far: float,
                 normal: Sequence[np.ndarray] | None = None) -> float:
    """Share of labelled events with a point above the threshold that flags `far` of normals.

    `normal` masks the points the threshold is set on (default: every point outside `truths`;
    pass the unlabelled points to count only some kinds of event while excluding the rest).
    """
    masks = normal if normal is not None else [~y for y in truths]
    normal_scores = np.concatenate([s[m] for s, m in zip(scores, masks, strict=True)])
    normal_scores = normal_scores[np.isfinite(normal_scores)]
    if normal_scores.size == 0:
        return float("nan")
    thr = np.quantile(normal_scores, 1 - far)
    hit = total = 0
    for s, y in zip(scores, truths, strict=True):
        for a, b in true_runs(y):
            total += 1
            hit += bool(np.nanmax(np.where(np.isfinite(s[a:b]), s[a:b], -np.inf)) > thr)
    return hit / total if total else float("nan")


def matrix_profile_scores(det: Detector, curves: Sequence[LightCurve],
                          train_until: dict[str, float]) -> list[np.ndarray]:
    """The matrix profile on the detector's grid with its window (stumpy.aamp, not
    z-normalised: a level change counts): every subsequence's distance to its nearest
    neighbour, among the subsequences before `train_until[id]` where a curve names a training
    part (UCR archive files: the join against the training part that discord studies run),
    else among the curve's own others (a self-join, trivial matches excluded); spread to
    points by the mean over the subsequences covering each; per band."""
    import stumpy

    w = det.window
    out = []
    for c in curves:
        res = det.preprocessor.resample(c)
        grids = np.full(res.values.shape, np.nan)
        cut = (int(np.searchsorted(res.grid_time, train_until[c.object_id]))
               if c.object_id in train_until else None)
        for b in range(res.values.shape[0]):
            a = res.values[b].astype(np.float64)
            if a.size < 2 * w or (cut is not None and cut < w):
                continue
            with np.errstate(invalid="ignore"):
                mp = (stumpy.aamp(a, w, T_B=a[:cut], ignore_trivial=False) if cut is not None
                      else stumpy.aamp(a, w))[:, 0].astype(np.float64)
            mp[~np.isfinite(mp)] = np.nan
            grids[b] = coverage_mean(mp, np.arange(mp.size), w, res.n_grid)
        out.append(np.where(c.mask, grids[res.point_band, res.point_grid], np.nan))
    return out


def baseline_scores(det: Detector, curves: Sequence[LightCurve],
                    train_until: dict[str, float] | None = None) -> dict[str, list[np.ndarray]]:
    """Isolation Forest and PCA reconstruction on the very windows the autoencoder sees, and
    the matrix profile on the same grid and window (`matrix_profile_scores`)."""
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest

    prepared = [det.prepare(c) for c in curves]
    x = np.concatenate([p.xn[p.valid] for p in prepared])
    iso = IsolationForest(n_estimators=200, random_state=0).fit(x)
    pca = PCA(n_components=min(det.latent_dim, x.shape[1], x.shape[0]), random_state=0).fit(x)
    out: dict[str, list[np.ndarray]] = {"isolation_forest": [], "pca": []}
    for p in prepared:
        for name in out:
            w = np.full(p.win.n_windows, np.nan)
            if p.valid.any():
                xv = p.xn[p.valid]
                if name == "isolation_forest":
                    w[p.valid] = -iso.score_samples(xv)
                else:
                    rec = pca.inverse_transform(pca.transform(xv))
                    m = p.win.mask[p.valid]
                    w[p.valid] = ((xv - rec) ** 2 * m).sum(1) / np.maximum(m.sum(1), 1)
            grid = coverage_mean(w, p.win.starts, det.window, p.res.n_grid)
            out[name].append(np.where(p.curve.mask, grid[p.res.point_grid], np.nan))
    try:
        import stumpy  # noqa: F401  (an extra: lcad[baselines])
    except ImportError:
        warnings.warn("the matrix profile baseline needs stumpy, which is not installed: "
                      "left out (pip install 'lcad[baselines]' adds it)", BaselineNote,
                      stacklevel=2)
    else:
        out["matrix_profile"] = matrix_profile_scores(det, curves, train_until or {})
    return out


class BaselineNote(UserWarning):
    """A baseline `lcad evaluate --baselines` could not run, and why."""


def evaluate(det: Detector, curves: Sequence[LightCurve], labels: Labels, far: float = 0.01,
             baselines: bool = False) -> dict[str, Any]:
    labels = labels.for_data([c.object_id for c in curves])
    result = det.score(curves, on_error="skip")
    scored = {c.object_id: c for c in result}
    known = set(labels.events) | set(labels.points) | set(labels.objects)
    matched = known & set(scored)
    if not matched:
        raise LabelError(f"labels name {len(known)} object(s), none of them among the "
                         f"{len(scored)} scored ({sorted(scored)[:5]}...)")
    out: dict[str, Any] = {"n_objects": len(scored), "n_labelled_objects": len(matched),
                           "skipped": result.skipped, "methods": {}}
    if labels.kind == "objects":
        ids = [o for o in scored if o in labels.objects]
        y = np.array([labels.objects[o] for o in ids])
        ranked = {"lcad": np.array([scored[o].score for o in ids])}
        if baselines:
            by_id = {c.object_id: c for c in curves}
            ranked["features_iforest"] = features_iforest([by_id[o] for o in ids])
        for name, s in ranked.items():
            out["methods"][name] = ranking_metrics(y, s) | at_k_metrics(y, s)
        return out
    truth_of = {o: point_truth(o, c.time, labels) for o, c in scored.items()}
    ids = [o for o, y in truth_of.items() if y is not None]
    # the points the metrics count: all (a view, no copy) but where labels start later
    counted: dict[str, Any] = {o: scored[o].time >= labels.evaluated_from[o]
                               if o in labels.evaluated_from else slice(None) for o in ids}
    truths: list[np.ndarray] = [y[counted[o]] for o, y in truth_of.items() if y is not None]
    if not any(y.any() for y in truths):
        raise LabelError("no labelled anomaly falls on any scored point")
    methods: dict[str, list[np.ndarray]] = {"lcad": [scored[o].point_score for o in ids]}
    if baselines:
        by_id = {c.object_id: c for c in curves}
        methods.update(baseline_scores(det, [by_id[o] for o in ids], labels.evaluated_from))
    methods = {name: [s[counted[o]] for o, s in zip(ids, scores, strict=True)]
               for name, scores in methods.items()}
    y_all = np.concatenate(truths)
    for name, scores in methods.items():
        m = ranking_metrics(y_all, np.concatenate(scores))
        # per object too (scores of different objects need not share a scale): the mean
        per = [r["pr_auc"] for y, s in zip(truths, scores, strict=True)
               if (r := ranking_metrics(y, s))]
        m["mean_pr_auc"] = float(np.mean(per)) if per else float("nan")
        # range-aware: credit for flags beside an event, buffers up to one window
        vus = [vus_pr(y, s, det.window) for y, s in zip(truths, scores, strict=True)
               if y.any() and not y.all()]
        m["mean_vus_pr"] = float(np.mean(vus)) if vus else float("nan")
        m["event_recall"] = event_recall(scores, truths, far)
        if labels.kind == "events":
            m["located"] = located([scored[o].time[counted[o]] for o in ids], scores,
                                   [labels.events[o] for o in ids], labels.margin)
        if name == "lcad":  # the intervals it reports, at its own threshold
            counts = IntervalCounts()
            for o, y in zip(ids, truths, strict=True):
                counts.add(y, interval_mask(scored[o].time, scored[o].intervals)[counted[o]])
            m.update(counts.metrics())
        out["methods"][name] = m
    return out


def located_hits(times: Sequence[np.ndarray], scores: Sequence[np.ndarray],
                 spans: Sequence[Sequence[tuple[float, float]]], margin: float = 0.0
                 ) -> list[bool]:
    """Per curve, whether its top-scored point lies in one of its labelled stretches,
    widened by `margin` on each side (a curve without a finite score: missed)."""
    hits = []
    for t, s, sp in zip(times, scores, spans, strict=True):
        if not np.isfinite(s).any():
            hits.append(False)
            continue
        top = t[int(np.nanargmax(s))]
        hits.append(any(a - margin <= top <= b + margin for a, b in sp))
    return hits


def located(times: Sequence[np.ndarray], scores: Sequence[np.ndarray],
            spans: Sequence[Sequence[tuple[float, float]]], margin: float = 0.0) -> float:
    """The fraction of curves `located_hits` finds located."""
    hits = located_hits(times, scores, spans, margin)
    return float(np.mean(hits)) if hits else float("nan")


def result_json(result: dict[str, Any]) -> str:
    """`evaluate`'s result as strict JSON: a metric that is undefined (NaN: no interval
    flagged, no labelled curve with both classes) is null, not the NaN token strict parsers
    reject."""
    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        if isinstance(v, float | np.floating):
            return float(v) if np.isfinite(v) else None
        if isinstance(v, np.integer):
            return int(v)
        return v
    return json.dumps(clean(result), indent=2, allow_nan=False)


def format_table(result: dict[str, Any]) -> str:
    """A metric a row, a method a column ("-": not measured for it, or undefined): a dozen
    metrics fit a terminal's width this way round."""
    methods = result["methods"]
    names = list(methods)
    rows = sorted({k for m in methods.values() for k in m})
    key = max([len("metric"), *map(len, rows)]) + 2
    widths = [max(len(n), 6) + 2 for n in names]
    lines = ["metric".ljust(key) + "".join(n.rjust(w) for n, w in zip(names, widths,
                                                                       strict=True))]
    for r in rows:
        cells = [f"{methods[n][r]:.4f}" if r in methods[n] and np.isfinite(methods[n][r])
                 else "-" for n in names]
        lines.append(r.ljust(key) + "".join(c.rjust(w) for c, w in zip(cells, widths,
                                                                        strict=True)))
    return "\n".join(lines)


INJECTED_KINDS = ("flare", "dip", "oscillation")
INJECTED_EVERY = 8  # one injected event per this many windows of a curve (at least one)


def inject_events(curves: Sequence[LightCurve], window: int, seed: int = 7,
                  kinds: Sequence[str] = INJECTED_KINDS, per_curve: int | None = None,
                  most: int = 6) -> tuple[list[LightCurve], Labels, list[Injection]]:
    """Copies of `curves` with known events spread evenly in time (kinds in turn; `per_curve`
    each, or one per `INJECTED_EVERY` windows of points, at most `most`) and their labels."""
    rng = np.random.default_rng(seed)
    out, labels, injections = [], Labels("events"), []
    k = 0
    for c in curves:
        c = copy.deepcopy(c)
        n = per_curve or int(np.clip(len(c) // (INJECTED_EVERY * window), 1, most))
        span = c.time[-1] - c.time[0]
        for i in range(n):
            inj = inject(c, kinds[k % len(kinds)], rng,
                         at=float(c.time[0] + span * (i + 0.5) / n))
            k += 1
            labels.events.setdefault(inj.object_id, []).append((inj.start, inj.end))
            injections.append(inj)
        out.append(c)
    return out, labels, injections


def injection_check(det: Detector, held_out: Sequence[LightCurve], far: float = 0.01,
                    seed: int = 7) -> dict[str, float]:
    """The detection metric of a training run: events injected into the held-out curves
    (never trained on), scored by the trained detector: `injected.pr_auc` (points),
    `injected.event_recall` (events with a point above the `far` false-alarm level). The
    same names as `lcad evaluate`'s `eval.*` with labels. Empty in whole-curve mode (an
    object is one window: see the object metrics) or when no held-out curve holds two
    windows of observations."""
    if det.whole_curves:
        return {}
    usable = [c for c in held_out if int(c.mask.sum()) >= 2 * det.window]
    if not usable:
        return {}
    injected, labels, _ = inject_events(usable, det.window, seed)
    try:
        res = evaluate(det, injected, labels, far=far)
    except LabelError:  # nothing scored where the events went
        return {}
    m = res["methods"]["lcad"]
    return {f"injected.{k}": float(m[k]) for k in ("pr_auc", "event_recall", "roc_auc")
            if k in m and np.isfinite(m[k])}


def eval_metrics(result: dict[str, Any]) -> dict[str, float]:
    """`evaluate`'s result as MLflow metrics: lcad's as `eval.<metric>` (the name every
    command uses), a baseline's as `eval.<baseline>.<metric>`."""
    out = {}
    for method, metrics in result["methods"].items():
        prefix = "eval." if method == "lcad" else f"eval.{method}."
        out.update({prefix + k: float(v) for k, v in metrics.items() if np.isfinite(v)})
    return out
