"""Batch scoring to CSV/Parquet in chunks, so memory holds one chunk of objects."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from queue import Full, Queue
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from tqdm import tqdm

from lcad.models.detector import Detector
from lcad.models.errors import LightCurveError
from lcad.models.io import intervals_path, iter_curves, objects_path, summarize_repairs
from lcad.models.lightcurve import LightCurve
from lcad.models.results import INTERVAL_COLUMNS, INTERVAL_TYPES, finite_or_none


class TableWriter:
    """Appends frames to a CSV or Parquet file."""

    def __init__(self, path: Path):
        self.path = path
        self.parquet = path.suffix.lower() == ".parquet"
        self._writer: Any = None
        self._started = False
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, frame: pd.DataFrame | Any) -> None:
        """Append `frame` (or, to Parquet, an Arrow table of the same columns)."""
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = frame if isinstance(frame, pa.Table) \
                else pa.Table.from_pandas(frame, preserve_index=False)
            if self._writer is None:  # categoricals: dictionaries, whatever their size
                schema = _dictionaries_int32(table.schema)
                # dictionary pages only for text: building one for every float column and
                # dropping it (most values distinct) was 80% of the writing time
                text = [f.name for f in schema if pa.types.is_dictionary(f.type)
                        or pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
                self._writer = pq.ParquetWriter(self.path, schema, use_dictionary=text)
            if not table.schema.equals(self._writer.schema, check_metadata=False):
                table = table.cast(self._writer.schema)
            self._writer.write_table(table)
        else:
            frame.to_csv(self.path, mode="a" if self._started else "w",
                         header=not self._started, index=False)
        self._started = True

    def close(self, empty_columns: list[str]) -> None:
        if not self._started:
            self.write(pd.DataFrame(columns=empty_columns))
        if self._writer is not None:
            self._writer.close()


POINT_COLUMNS = ["object_id", "time", "band", "flux", "reconstruction", "score", "p_value",
                 "is_anomaly"]
OBJECT_COLUMNS = ["object_id", "score", "p_value", "is_anomalous", "n_points",
                  "n_anomalous_points", "n_intervals"]
SPREAD_COLUMNS = ["score_mean", "score_std"]  # with samples


SEGMENT_POINTS = 200_000
# chunks scored at once: the network uses a second core poorly, so numpy work on other chunks
# fills it; one more than the cores keeps them busy while a chunk waits for its turn
WORKERS = min(4, (os.cpu_count() or 1) + 1)


# `lcad score` without --processes: a survey (whole-curve) model scores in one process a core
# (at most AUTO_PROCESSES) from this many input rows (points) on; below, the processes' start
# (an import of TensorFlow and a model load each, ~10 s) outweighs what they gain
# (bench.survey_throughput, 100-point objects: 20,000 of them 796 objects/s in 2 processes,
# 767 in one; 100,000: 1,736 and 1,153)
AUTO_PROCESS_ROWS = 4_000_000
AUTO_PROCESSES = 8


def auto_processes(det: Detector, data: str | Path) -> tuple[int, str]:
    """(processes, the line saying why) for `lcad score` without --processes: one, and no
    line, unless the model is a survey one, the machine has cores to spare and `data` holds
    at least AUTO_PROCESS_ROWS rows."""
    from lcad.models.io import estimated_rows

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else os.cpu_count() or 1
    if not det.whole_curves or cores < 2:
        return 1, ""
    rows = estimated_rows(data)
    if rows < AUTO_PROCESS_ROWS:
        return 1, ""
    n = min(cores, AUTO_PROCESSES)
    return n, (f"scoring in {n} processes, one a core: ~{rows:,} rows of survey curves "
               f"(--processes 1 keeps one)")


def default_workers(det: Detector) -> int:
    """Chunks scored at once by default: `WORKERS`; one for whole-curve (survey) detectors,
    whose per-object work is many small numpy calls holding the GIL, so threads only contend
    (bench.survey_throughput, 2,000 objects: 249 objects/s with one, 187 with three)."""
    return 1 if det.whole_curves else WORKERS

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int = WORKERS
                ) -> Iterator[R]:
    """`map(fn, items)` with up to `workers` calls running at once in threads, results in
    order; at most `workers` + 1 results exist at a time (memory stays bounded)."""
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="lcad-score") as pool:
        yield from _in_order(pool, fn, items, workers)


def _in_order(pool: Executor, fn: Callable[[T], R], items: Iterable[T], ahead: int
              ) -> Iterator[R]:
    """`fn` over `items` on `pool`, at most `ahead` + 1 submitted and not yet taken."""
    pending: deque[Future[R]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for f in pending:
            f.cancel()


class _Raised:
    def __init__(self, exc: BaseException):
        self.exc = exc


_DONE = object()


def prefetched(items: Iterable[T], ahead: int = 1) -> Iterator[T]:
    """`items`, up to `ahead` of them produced in a background thread while the caller works
    on the last one given (the next piece of a file read while this one is scored); an
    exception raised producing an item is raised here, in its place. Leaving the loop early
    stops the thread after the item it is producing."""
    queue: Queue[Any] = Queue(maxsize=ahead)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        """Put `item` unless the consumer has left; whether it was put."""
        while not stop.is_set():
            with contextlib.suppress(Full):
                queue.put(item, timeout=0.1)
                return True
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            offer(_Raised(exc))

    thread = threading.Thread(target=produce, name="lcad-read", daemon=True)
    thread.start()
    try:
        while (item := queue.get()) is not _DONE:
            if isinstance(item, _Raised):
                raise item.exc
            yield item
    finally:
        stop.set()  # a producer waiting to put sees it within 0.1 s
        thread.join()


# each scoring process's threads: one for BLAS and TensorFlow, so that N processes use N cores
# instead of fighting over them
_ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
               "TF_CPP_MIN_LOG_LEVEL": "3"}
_WORKER: dict[str, Detector] = {}  # the detector of a scoring process


# glibc malloc for a scoring process (`keep_freed_memory`): mallopt's parameter numbers
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
KEPT_MEMORY = {_M_TRIM_THRESHOLD: 256 << 20, _M_TOP_PAD: 16 << 20, _M_MMAP_THRESHOLD: 32 << 20}


def keep_freed_memory() -> bool:
    """Keep freed memory in this process for the next chunk instead of handing it back to
    the kernel and faulting it in again, zeroed, page by page (a chunk's arrays, megabytes,
    come and go every few milliseconds): glibc's malloc keeps up to 256 MB, and Arrow
    allocates from it (its default pool, mimalloc, purges freed pages itself).
    Used for survey models only (`Detector.whole_curves`): on dense series (bench 2, 10M
    points) it gained nothing (21.1 vs 21.4 s) and held 120 MB more (1.61 vs 1.74 GB).
    Measured (docs/benchmarks.md, session 23): batch scoring of 20,000 survey objects in
    one process, page faults 314,000 -> 59,000 and system time 4.2 s -> 2.7 s; 100,000
    objects in two scoring processes, system time ~5.5 s -> ~1 s in each, and 8.7 s ->
    ~4.5 s in the reading and writing one. All three malloc parameters are set: setting one
    stops glibc adapting the others (the trim threshold alone left arrays over 128 KB mapped
    anew each time: 4 million faults). Whether malloc's applied (False off glibc)."""
    import ctypes
    import ctypes.util

    import pyarrow as pa

    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    if not all([mallopt(param, value) == 1 for param, value in KEPT_MEMORY.items()]):
        return False
    pa.set_memory_pool(pa.system_memory_pool())
    return True


def _load_worker(bundle: str) -> None:
    det = _WORKER["det"] = Detector.load(bundle)
    if det.whole_curves:
        keep_freed_memory()


class CurveChunk:
    """Curves sent to a scoring process. Pickled as a few joined arrays (and band codes),
    not ~6 objects a curve and a string a point: a 256-curve chunk of two-band 50-epoch
    curves pickles in 1.1 ms instead of 4.1 and unpickles in 1.3 ms instead of 2.2
    (tests/training/test_scoring.py checks the curves come back equal)."""

    def __init__(self, curves: list[LightCurve]):
        self.curves = curves

    def __getstate__(self) -> dict[str, Any]:
        cs = self.curves
        has_err = np.array([c.flux_err is not None for c in cs], bool)
        has_band = np.array([c.band is not None for c in cs], bool)
        joined = {name: _join([getattr(c, name) for c in cs if getattr(c, name) is not None])
                  for name in ("time", "flux", "mask", "flux_err")}
        codes, labels = pd.factorize(_join([c.band for c in cs if c.band is not None],
                                           object))
        return {"ids": [c.object_id for c in cs], "lengths": np.array([len(c) for c in cs]),
                "has_err": has_err, "has_band": has_band,
                "band_codes": codes.astype(np.int8 if len(labels) < 128 else np.int32),
                "band_labels": np.asarray(labels, dtype=object),
                "warnings": [c.warnings for c in cs], "units": [c.unit for c in cs], **joined}

    def __setstate__(self, state: dict[str, Any]) -> None:
        n = state["lengths"]
        if not n.size:
            self.curves = []
            return
        at = np.cumsum(n)[:-1]
        time, flux, mask = (np.split(state[k], at) for k in ("time", "flux", "mask"))
        err = iter(np.split(state["flux_err"], np.cumsum(n[state["has_err"]])[:-1]))
        band = iter(np.split(state["band_labels"][state["band_codes"]],
                             np.cumsum(n[state["has_band"]])[:-1]))
        self.curves = [
            LightCurve(oid, t, f, next(err) if e else None, next(band) if b else None, m, w,
                       u)
            for oid, t, f, m, e, b, w, u in zip(
                state["ids"], time, flux, mask, state["has_err"], state["has_band"],
                state["warnings"], state["units"], strict=True)]


def _join(arrays: list[np.ndarray], empty: type = float) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.empty(0, empty)


def _score_in_worker(threshold: float | None, samples: int, arrow: bool,
                     chunk: CurveChunk) -> Scored:
    """`_score_chunk` in a scoring process; `arrow`: both tables as Arrow tables, built
    here rather than in the process that writes the Parquet files."""
    done = _score_chunk(_WORKER["det"], threshold, samples, chunk.curves)
    if arrow and done.points is not None and done.objects is not None:
        done.points, done.objects = arrow_table(done.points), arrow_table(done.objects)
    return done


def arrow_table(frame: pd.DataFrame) -> Any:
    """`frame` as an Arrow table, categoricals with int32 codes (what `TableWriter` writes):
    the writer then appends it as it is."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    return table.cast(_dictionaries_int32(table.schema))


def _dictionaries_int32(schema: Any) -> Any:
    import pyarrow as pa

    return pa.schema([pa.field(f.name, pa.dictionary(pa.int32(), f.type.value_type))
                      if pa.types.is_dictionary(f.type) else f for f in schema],
                     metadata=schema.metadata)


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in os.environ while the block runs (what spawned processes inherit)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def scoring_processes(det: Detector, processes: int) -> Iterator[ProcessPoolExecutor]:
    """`processes` fresh Python processes (spawned: TensorFlow is not fork-safe), each with
    one thread and `det` loaded once from a copy of its bundle (whatever it was loaded from:
    a path, the MLflow registry, or memory). Starting one costs an import of TensorFlow and
    a model load (seconds): worth it for thousands of objects."""
    import multiprocessing

    with tempfile.TemporaryDirectory(prefix="lcad-score-") as tmp:
        bundle = det.save(Path(tmp) / "bundle")
        ctx = multiprocessing.get_context("spawn")
        with _environment(_ONE_THREAD), ProcessPoolExecutor(
                processes, mp_context=ctx, initializer=_load_worker,
                initargs=(str(bundle),)) as pool:
            for _ in range(processes):  # all start now (one per task submitted), loading
                pool.submit(os.getpid)  # while this process reads the first file
            yield pool


def score_long(det: Detector, curve: LightCurve, threshold: float | None,
               write: Callable[[pd.DataFrame], None],
               segment_points: int = SEGMENT_POINTS, workers: int = WORKERS,
               samples: int = 0, intervals: list[pd.DataFrame] | None = None
               ) -> dict[str, Any]:
    """`iter_long`, each segment's points passed to `write`; the object summary returned."""
    segments = iter_long(det, curve, threshold, segment_points, workers, samples, intervals)
    while True:
        try:
            write(next(segments))
        except StopIteration as done:
            return done.value


def iter_long(det: Detector, curve: LightCurve, threshold: float | None,
              segment_points: int = SEGMENT_POINTS, workers: int = WORKERS, samples: int = 0,
              intervals: list[pd.DataFrame] | None = None
              ) -> Generator[pd.DataFrame, None, dict[str, Any]]:
    """Score one long curve in overlapping time segments, so memory holds a few segments.

    Every segment is resampled on the whole curve's grid with its statistics
    (`Detector.score_piece`) and padded by `Detector.piece_margin` on both sides; only its
    core points are kept, and only the errors of the windows starting in its core. Put
    together, these are the whole curve's windows, so the object score, p-value and verdict
    are those of one pass whatever `segment_points` (tested). Point scores near a core's
    edge see the same windows; the scan scales residuals by the segment's own scatter.
    Up to `workers` segments are scored at once; each one's points are yielded, in order,
    as soon as it is scored; the object summary is the generator's return value.
    `samples`: every point gets its spread over that many random passes; the object score's
    spread needs the whole curve at once, so it is None here (`unspread` in the summary).
    `intervals`: each segment's flagged intervals (those peaking in its core) appended.
    """
    n = len(curve)
    if det.whole_curves:  # one grid of `window` points per curve
        res = det.score([curve], threshold=threshold, samples=samples)
        c = res.curves[0]
        if intervals is not None:
            intervals.append(c.intervals_frame())
        yield c.points_frame(categorical=True)
        return c.summary()
    anchor = det.preprocessor.anchor(curve)
    pad = det.piece_margin
    network = det.stochastic_network(samples) if samples else None

    def one(lo: int) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray] | None:
        hi = min(lo + segment_points, n)
        a = float(curve.time[lo]) if lo else -np.inf
        b = float(curve.time[hi]) if hi < n else np.inf
        seg = curve.slice_time(a - pad, b + pad)
        if not seg.mask.any():
            return None
        try:
            c, werr = det.score_piece(seg, anchor, (a, b), threshold, samples, network)
        except LightCurveError:
            return None
        core = slice(*np.searchsorted(c.time, [a, b], side="left"))  # times are sorted
        return c.points_frame(core, categorical=True), c.intervals_frame(a, b), werr

    errors: list[np.ndarray] = []
    n_intervals, n_flagged, scored = 0, 0, False
    for done in ordered_map(one, range(0, n, segment_points), workers):
        if done is None:
            continue
        f, core_intervals, werr = done
        yield f
        scored = True
        n_flagged += int(f["is_anomaly"].sum())
        errors.append(werr)
        n_intervals += len(core_intervals)
        if intervals is not None:
            intervals.append(core_intervals)
    if not scored:
        raise LightCurveError("no segment could be scored", object_id=curve.object_id)
    score, p_value, anomalous = det.object_verdict(np.concatenate(errors), n_intervals > 0,
                                                   threshold)
    row = {"object_id": curve.object_id, "score": finite_or_none(score),
           "p_value": finite_or_none(p_value), "is_anomalous": bool(anomalous),
           "n_points": n, "n_anomalous_points": n_flagged, "n_intervals": n_intervals}
    return {**row, "score_mean": None, "score_std": None} if samples else row


def score_to_file(
    det: Detector,
    data: str | Path,
    output: str | Path,
    columns: Mapping[str, str | None] | None = None,
    unit: str = "auto",
    threshold: float | None = None,
    batch_objects: int = 256,
    segment_points: int = SEGMENT_POINTS,
    workers: int | None = None,
    samples: int = 0,
    processes: int = 1,
) -> dict[str, Any]:
    """Score every curve under `data`; write points to `output`, objects and the flagged
    intervals beside it (`objects_path`, `intervals_path`).

    Files are read one at a time, objects scored `batch_objects` at a time, and curves longer
    than `segment_points` in overlapping segments (`score_long`); up to `workers` chunks are
    scored at once (default: `default_workers`), and written in order; with `processes` > 1
    the chunks are scored in that many processes instead (`scoring_processes`; curves
    scored in segments stay in this one). `samples` >= 2:
    columns `score_mean`, `score_std` in both tables (the spread over that many random
    passes: `Detector.score`).
    """
    if samples:
        det.stochastic_network(samples)  # a model without randomness fails before reading
    workers = workers or default_workers(det)
    output = Path(output)
    points = TableWriter(output)
    objects = TableWriter(objects_path(output))
    flagged = TableWriter(intervals_path(output))
    summary: dict[str, Any] = {"n_objects": 0, "n_points": 0, "n_anomalous_objects": 0,
                               "n_intervals": 0, "skipped": {}, "unscored": [], "repairs": [],
                               "objects_file": str(objects_path(output)),
                               "intervals_file": str(intervals_path(output)),
                               "top_objects": None, "top_intervals": None,
                               "training_curves": []}
    bar = tqdm(unit="obj", desc="scoring", file=sys.stderr, disable=not sys.stderr.isatty())
    with contextlib.ExitStack() as stack:
        if processes > 1:
            pool = stack.enter_context(scoring_processes(det, processes))
            in_worker = partial(_score_in_worker, threshold, samples, points.parquet)

            def score_chunks(chunks: Iterable[list[LightCurve]]) -> Iterator[Scored]:
                return _in_order(pool, in_worker, map(CurveChunk, chunks), 2 * processes)
        else:
            score_chunks = partial(ordered_map, partial(_score_chunk, det, threshold, samples),
                                   workers=workers)
        try:
            for _, curves in prefetched(iter_curves(data, columns, unit)):
                summary["repairs"] += summarize_repairs(curves)
                summary["training_curves"] += det.training_curves(
                    [c.object_id for c in curves])
                bar.total = (bar.total or 0) + len(curves)  # the counter shows "n/total"
                bar.refresh()
                long = [c for c in curves if len(c) > segment_points]
                short = [c for c in curves if len(c) <= segment_points]
                for c in long:
                    found: list[pd.DataFrame] = []
                    try:  # nothing is written for a curve none of whose segments scores
                        row = score_long(det, c, threshold, points.write, segment_points,
                                         workers, samples, found)
                    except LightCurveError as exc:
                        summary["skipped"][c.object_id] = exc.message
                        continue
                    for frame in found:
                        _write_intervals(flagged, frame, summary)
                    one = pd.DataFrame([row])
                    _count(summary, objects, one, Tally.of(one))
                    bar.update(1)
                chunks = (short[lo: lo + batch_objects]
                          for lo in range(0, len(short), batch_objects))
                for done in score_chunks(chunks):
                    summary["skipped"].update(done.skipped)
                    if done.objects is not None and done.points is not None and done.tally:
                        points.write(done.points)
                        _count(summary, objects, done.objects, done.tally)
                        _write_intervals(flagged, done.intervals, summary)
                    bar.update(done.n)
        finally:
            bar.close()
            spread = SPREAD_COLUMNS if samples else []
            points.close(POINT_COLUMNS + spread)
            objects.close(OBJECT_COLUMNS + spread)
            flagged.close(INTERVAL_COLUMNS)
    # a training curve that was skipped (unusable) has no row to speak of
    summary["training_curves"] = [o for o in summary["training_curves"]
                                  if o not in summary["skipped"]]
    return summary


def _write_intervals(writer: TableWriter, frame: pd.DataFrame | None,
                     summary: dict[str, Any]) -> None:
    """A chunk's intervals (none written where it has none: an empty frame's columns have
    no types for a Parquet schema); the strongest kept in `summary["top_intervals"]`."""
    if frame is not None and len(frame):
        writer.write(frame.astype(INTERVAL_TYPES))
        summary["top_intervals"] = strongest(summary["top_intervals"], frame, "peak_score")


TOP_OBJECT_COLUMNS = ["object_id", "score", "p_value", "is_anomalous", "n_intervals"]
TOP = 5  # the objects and intervals `lcad score` names at the end


def strongest(kept: pd.DataFrame | None, new: pd.DataFrame, score: str) -> pd.DataFrame:
    """The `TOP` rows of `kept` and `new` with the smallest p-values (the larger score first
    among equal ones): what a person looks at first."""
    both = new if kept is None else pd.concat([kept, new], ignore_index=True)
    return both.sort_values(["p_value", score], ascending=[True, False],
                            na_position="last", kind="stable").head(TOP)


@dataclass
class Scored:
    """A chunk's tables and their counts (`Tally`), built where it was scored (a scoring
    process sends them back)."""

    n: int
    skipped: dict[str, str]
    points: pd.DataFrame | Any | None  # an Arrow table from a scoring process
    objects: pd.DataFrame | Any | None
    tally: Tally | None = None
    intervals: pd.DataFrame | None = None


@dataclass
class Tally:
    """What `score_to_file`'s summary counts of an objects table."""

    n_objects: int
    n_points: int
    n_anomalous_objects: int
    n_intervals: int
    unscored: list[str]
    unspread: int | None  # scored without an object-score spread (segments); None: no spread
    top: pd.DataFrame | None = None  # the chunk's strongest objects (`strongest`)

    @classmethod
    def of(cls, obj: pd.DataFrame) -> Tally:
        unspread = int((obj["score_std"].isna() & obj["score"].notna()).sum()) \
            if "score_std" in obj else None
        top = strongest(None, obj[obj["score"].notna()][TOP_OBJECT_COLUMNS], "score")
        return cls(len(obj), int(obj["n_points"].sum()), int(obj["is_anomalous"].sum()),
                   int(obj["n_intervals"].sum()),
                   obj.loc[obj["score"].isna(), "object_id"].astype(str).tolist(), unspread,
                   top)

    def add_to(self, summary: dict[str, Any]) -> None:
        summary["unscored"] += self.unscored
        if self.top is not None and len(self.top):
            summary["top_objects"] = strongest(summary["top_objects"], self.top, "score")
        if self.unspread is not None:
            summary["unspread"] = summary.get("unspread", 0) + self.unspread
        for key in ("n_objects", "n_points", "n_anomalous_objects", "n_intervals"):
            summary[key] += getattr(self, key)


def _score_chunk(det: Detector, threshold: float | None, samples: int,
                 chunk: list[LightCurve]) -> Scored:
    result = det.score(chunk, threshold=threshold, on_error="skip", samples=samples)
    if not len(result):
        return Scored(len(chunk), result.skipped, None, None)
    objects = result.to_frame()
    return Scored(len(chunk), result.skipped, result.points_frame(categorical=True), objects,
                  Tally.of(objects), result.intervals_frame())


def _count(summary: dict[str, Any], objects: TableWriter, obj: pd.DataFrame | Any,
           tally: Tally) -> None:
    objects.write(obj)
    tally.add_to(summary)
