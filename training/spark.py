"""Batch scoring on Spark: long-format light curves in, lcad score's points and objects out.

`score_spark` repartitions the rows by object and sorts each partition by object and time,
so a partition's Arrow batches hold whole objects one after another. `mapInPandas` runs a
`PartitionScorer` over them: an object is gathered across batch boundaries (one of a
million points arrives in many batches and is held as its rows only), objects are scored
`batch_objects` at a time by the same `Detector.score` as `lcad score`, and a curve longer
than `segment_points` in overlapping segments (`iter_long`), each segment's points handed
on as soon as it is scored. The Detector is loaded once per Python worker from the bundle
that `SparkContext.addFile` ships to the executors (a registry URI is resolved on the
driver). One pass writes four Parquet datasets under the output: `points`, `objects`,
`intervals` (the columns of `lcad score`'s three files) and `skipped` (object_id, reason).

spark-submit runs this file with the arguments of `lcad spark-score` (docs/scale.md):
`spark-submit --master ... "$(python -c 'import lcad.training.spark as m; print(m.__file__)')"
--model ... --data ... --output ...`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lcad.models.errors import DataError, LcadError, LightCurveError
from lcad.models.frames import ColumnMap, DifferenceColumns, frame_to_curves, resolve_columns
from lcad.models.results import INTERVAL_COLUMNS
from lcad.training.scoring import OBJECT_COLUMNS, POINT_COLUMNS, SEGMENT_POINTS

# every table's rows in one schema, told apart by `table` (one pass, three outputs)
COLUMNS: dict[str, tuple[str, str]] = {  # name: (Spark type, pandas dtype)
    "table": ("string", "object"),
    "object_id": ("string", "object"),
    "time": ("double", "float64"),
    "band": ("string", "object"),
    "flux": ("double", "float64"),
    "reconstruction": ("double", "float64"),
    "score": ("double", "float64"),
    "p_value": ("double", "float64"),
    "is_anomaly": ("boolean", "boolean"),
    "is_anomalous": ("boolean", "boolean"),
    "n_points": ("long", "Int64"),
    "n_anomalous_points": ("long", "Int64"),
    "n_intervals": ("long", "Int64"),
    "reason": ("string", "object"),
    "start": ("double", "float64"),
    "end": ("double", "float64"),
    "peak_time": ("double", "float64"),
    "peak_score": ("double", "float64"),
    "sign": ("string", "object"),
}
SCHEMA = ", ".join(f"{name} {kind}" for name, (kind, _) in COLUMNS.items())
TABLES = {"points": POINT_COLUMNS, "objects": OBJECT_COLUMNS, "intervals": INTERVAL_COLUMNS,
          "skipped": ["object_id", "reason"]}
BATCH_OBJECTS = 256

_DETECTORS: dict[str, Any] = {}  # one Detector per bundle per Python worker


def worker_detector(name: str) -> Any:
    """The Detector of the bundle shipped as `name`, loaded once in this process."""
    if name not in _DETECTORS:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        from pyspark import SparkFiles

        from lcad.models.detector import Detector

        _DETECTORS[name] = Detector.load(SparkFiles.get(name))
    return _DETECTORS[name]


def tagged(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """`frame` in the shared schema, its rows marked as `table`'s. Text columns are Arrow
    strings built from categoricals (a Python str per row made the hand-over to Spark a
    third of a task's time)."""
    import pyarrow as pa

    n = len(frame)
    out = {}
    for name, (kind, dtype) in COLUMNS.items():
        if kind == "string":
            if name == "table":
                arr = pa.array([table]).take(np.zeros(n, np.int64))
            elif name in frame.columns:
                arr = pa.array(frame[name], from_pandas=True).cast(pa.string())
                if isinstance(arr, pa.ChunkedArray):  # a column of pandas' Arrow strings
                    arr = arr.combine_chunks()
            else:
                arr = pa.nulls(n, pa.string())
            out[name] = pd.arrays.ArrowExtensionArray(arr)
        elif name in frame.columns:
            out[name] = frame[name].to_numpy().astype(dtype) if dtype.startswith("float") \
                else frame[name].astype(dtype).array
        else:
            out[name] = pd.array(np.full(n, np.nan), dtype=dtype) if dtype != "float64" \
                else np.full(n, np.nan)
    return pd.DataFrame(out)


class PartitionScorer:
    """The `mapInPandas` function: a partition's batches (rows grouped by object) in,
    tagged points, objects and skipped rows out. Holds only what pickles cheaply."""

    def __init__(self, bundle: str, unit: str, has_err: bool, has_band: bool,
                 threshold: float | None, batch_objects: int, segment_points: int,
                 has_quality: bool = False, look_for: str | None = None,
                 difference: DifferenceColumns | None = None):
        self.bundle = bundle
        self.look_for = look_for  # `Detector.looking_for`
        # `difference`: ZTF's difference magnitudes' columns, selected under their roles' names
        self.cmap = ColumnMap("object_id", "time", "flux", "flux_err" if has_err else None,
                              "band" if has_band else None, unit,
                              "quality" if has_quality else None,
                              None if difference is None else difference.renamed())
        self.threshold = threshold
        self.batch_objects = batch_objects
        self.segment_points = segment_points

    def __call__(self, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        ready: list[pd.DataFrame] = []  # whole objects waiting to be scored
        n_ready = 0
        for whole in self.whole_objects(batches):
            ready.append(whole)
            n_ready += int(whole["object_id"].nunique())
            if n_ready >= self.batch_objects or sum(map(len, ready)) >= self.segment_points:
                yield from self.score(pd.concat(ready, ignore_index=True))
                ready, n_ready = [], 0
        if ready:
            yield from self.score(pd.concat(ready, ignore_index=True))

    @staticmethod
    def whole_objects(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """Rows of complete objects: a batch's last object may go on in the next batch, so
        its rows wait (as a list of slices, not re-copied per batch) until another begins."""
        pending: list[pd.DataFrame] = []
        for batch in batches:
            if batch.empty:
                continue
            ids = batch["object_id"].to_numpy()
            last = ids[-1]
            others = np.flatnonzero(ids != last)
            if others.size:  # the batch finishes whatever was pending, then starts `last`
                cut = int(others[-1]) + 1
                yield pd.concat([*pending, batch.iloc[:cut]], ignore_index=True)
                pending = [batch.iloc[cut:]]
            elif pending and pending[-1]["object_id"].iat[-1] != last:
                yield pd.concat(pending, ignore_index=True)
                pending = [batch]
            else:
                pending.append(batch)
        if pending:
            yield pd.concat(pending, ignore_index=True)

    def curves(self, rows: pd.DataFrame) -> tuple[list[Any], dict[str, str]]:
        """The light curves of `rows`; an object that cannot become one is skipped, named."""
        try:
            return frame_to_curves(rows, self.cmap, "spark input"), {}
        except DataError:
            pass
        curves, skipped = [], {}
        for oid, one in rows.groupby("object_id", sort=False):
            try:
                curves += frame_to_curves(one, self.cmap, "spark input")
            except (DataError, LightCurveError) as exc:
                skipped[str(oid)] = str(exc)
        return curves, skipped

    def score(self, rows: pd.DataFrame) -> Iterator[pd.DataFrame]:
        from lcad.training.scoring import iter_long

        det = worker_detector(self.bundle).looking_for(self.look_for)
        curves, skipped = self.curves(rows)
        short = [c for c in curves if len(c) <= self.segment_points]
        if short:
            result = det.score(short, threshold=self.threshold, on_error="skip")
            skipped.update(result.skipped)
            if len(result):
                yield tagged(result.points_frame(categorical=True), "points")
                yield tagged(result.to_frame(), "objects")
                if len(found := result.intervals_frame()):
                    yield tagged(found, "intervals")
        for c in (c for c in curves if len(c) > self.segment_points):
            pieces: list[pd.DataFrame] = []
            segments = iter_long(det, c, self.threshold, self.segment_points, workers=1,
                                 intervals=pieces)
            try:
                while True:
                    yield tagged(next(segments), "points")
            except StopIteration as done:
                yield tagged(pd.DataFrame([done.value]), "objects")
                if pieces and len(found := pd.concat(pieces, ignore_index=True)):
                    yield tagged(found, "intervals")
            except LightCurveError as exc:  # points of earlier segments stay (lcad score's
                skipped[c.object_id] = exc.message  # long path writes them too)
        if skipped:
            yield tagged(pd.DataFrame({"object_id": list(skipped),
                                       "reason": list(skipped.values())}), "skipped")


def ship_bundle(sc: Any, bundle: Path) -> str:
    """Send the bundle directory to every executor under a name unique to its contents.

    The driver keeps that copy in $TMPDIR/lcad-spark as a cache: a later job of the same
    model (this session or the next) reuses it, and Spark serves it to executors that start
    later, so it is not removed after the job. It holds nothing but copies of bundles
    (a few MB each); delete the folder freely when no Spark job is running."""
    digest = hashlib.sha256()
    for f in sorted(p for p in bundle.rglob("*") if p.is_file()):
        digest.update(str(f.relative_to(bundle)).encode())
        digest.update(f.read_bytes())
    name = f"lcad-bundle-{digest.hexdigest()[:16]}"
    copy = Path(tempfile.gettempdir()) / "lcad-spark" / name
    if not copy.exists():
        tmp = copy.with_name(f"{name}.{os.getpid()}.partial")
        shutil.copytree(bundle, tmp, dirs_exist_ok=True)
        tmp.rename(copy)
    try:
        sc.addFile(str(copy), recursive=True)
    except Exception as exc:  # the same name added before (the same contents): fine
        if "already" not in str(exc):
            raise
    return name


def spark_session(master: str | None = None) -> Any:
    """The active session, or a new one (`master` when given, else Spark's own default:
    spark-submit's --master or local[*]); workers run this Python."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("lcad-score")
    if master:
        builder = builder.master(master)
    return builder.config("spark.ui.showConsoleProgress", "false").getOrCreate()


def score_spark(
    data: Any,
    model: str,
    output: str | Path,
    *,
    spark: Any = None,
    columns: Mapping[str, str | None] | None = None,
    unit: str = "auto",
    threshold: float | None = None,
    batch_objects: int = BATCH_OBJECTS,
    segment_points: int = SEGMENT_POINTS,
    partitions: int | None = None,
    overwrite: bool = False,
    look_for: str | None = None,
) -> dict[str, Any]:
    """Score a long-format Spark DataFrame (or a Parquet file or dataset at `data`) with the
    model at `model` (bundle path, models:/name@alias, runs:/...); write `output`/points,
    `output`/objects and `output`/skipped as Parquet; return a summary (counts, the first
    skipped objects and why, the objects without a score). `look_for`: the point score
    asked of the model (`Detector.looking_for`; None: its own)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F  # noqa: N812

    from lcad.models.detector import Detector
    from lcad.registry import resolve_model

    spark = spark or spark_session()
    if isinstance(data, (str, Path)):
        path = Path(data)
        if "://" not in str(data) and not path.exists():
            raise DataError(f"{data}: no such file or directory")
        frame = spark.read.parquet(str(data))
        source = str(data)
    else:
        frame, source = data, "the Spark DataFrame"
    cmap = resolve_columns(source, list(frame.columns), columns, unit)
    if cmap.object_id is None:
        raise DataError(f"{source}: no object id column; columns are {list(frame.columns)}. "
                        "Spark scoring groups rows by object: name it with --object-id-column")
    out = str(output).rstrip("/")
    there = [] if overwrite else existing_tables(spark, out)
    if there:  # refused before the work, not after it
        raise LcadError(f"{out} already holds results ({', '.join(there)}): pass "
                        "--overwrite or choose another --output")
    bundle = resolve_model(model)
    # an unusable model fails here, on the driver, with its reason
    known = Detector.load(bundle).looking_for(look_for).training_curves()
    name = ship_bundle(spark.sparkContext, bundle)

    col = F.col
    selected = [col(f"`{cmap.object_id}`").cast("string").alias("object_id"),
                col(f"`{cmap.time}`").alias("time"),
                col(f"`{cmap.flux}`").alias("flux")]
    if cmap.flux_err:
        selected.append(col(f"`{cmap.flux_err}`").alias("flux_err"))
    if cmap.band:
        selected.append(col(f"`{cmap.band}`").cast("string").alias("band"))
    if cmap.quality:  # flagged points masked, as `lcad score` masks them
        selected.append(col(f"`{cmap.quality}`").alias("quality"))
    if cmap.difference:  # ZTF difference magnitudes made apparent, as `lcad score` does
        selected += [col(f"`{c}`").alias(role) for role, c in cmap.difference.roles.items()]
    # ranges of object ids holding about as many rows each (a hash put several of a few
    # long objects on one core); 4 per core so a slow task does not hold up the others
    n_parts = partitions or 4 * spark.sparkContext.defaultParallelism
    rows = (frame.select(*selected).repartitionByRange(n_parts, "object_id")
            .sortWithinPartitions("object_id", "time", *(["band"] if cmap.band else [])))
    scorer = PartitionScorer(name, cmap.unit, cmap.flux_err is not None, cmap.band is not None,
                             threshold, batch_objects, segment_points, cmap.quality is not None,
                             look_for, cmap.difference)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*pandas >= 3.0.0", category=FutureWarning)
        # scored once: kept on disk (in memory, 10 million points overran a 1 GB driver
        # heap in local mode) while the points are written, then the far fewer object and
        # skipped rows are kept apart for their tables and counts
        scored = rows.mapInPandas(scorer, SCHEMA).persist(StorageLevel.DISK_ONLY)
        rest = scored.where(col("table") != "points")
        try:
            mode = "overwrite" if overwrite else "errorifexists"
            for table, cols in TABLES.items():
                if table == "objects":
                    rest = rest.persist(StorageLevel.MEMORY_AND_DISK)
                (rest if table != "points" else scored).where(col("table") == table) \
                    .select(*cols).write.mode(mode).parquet(f"{out}/{table}")
            return summarize(rest, out, known)
        except Exception as exc:
            if "already exists" in str(exc):
                raise LcadError(f"{out} already holds results: pass --overwrite or choose "
                                "another --output") from None
            raise
        finally:
            rest.unpersist()
            scored.unpersist()


def existing_tables(spark: Any, out: str) -> list[str]:
    """The output tables already under `out`, on any file system Spark writes to (Hadoop's
    FileSystem; a plain path check where the JVM is not reachable, as with Spark Connect)."""
    try:
        jvm, conf = spark._jvm, spark._jsc.hadoopConfiguration()
        hpath = jvm.org.apache.hadoop.fs.Path
        fs = hpath(out).getFileSystem(conf)
        return [t for t in TABLES if fs.exists(hpath(f"{out}/{t}"))]
    except AttributeError:
        return [t for t in TABLES if "://" not in out and Path(out, t).exists()]


def summarize(scored: Any, out: str, known: Sequence[str] = ()) -> dict[str, Any]:
    """Counts from the kept object and skipped rows (not scored again; not read back from
    `out`, whose name Spark would read as a glob pattern); the scored objects among `known`
    (the model's training curves, scored apart from their own windows)."""
    from pyspark.sql import functions as F  # noqa: N812

    objects = scored.where(F.col("table") == "objects")
    again = [] if not known else [
        r.object_id for r in objects.where(F.col("object_id").isin(list(known)))
        .select("object_id").limit(1000).collect()]
    row = objects.agg(F.count("*").alias("n"), F.sum("n_points").alias("points"),
                      F.sum(F.col("is_anomalous").cast("long")).alias("anomalous"),
                      F.sum("n_intervals").alias("intervals")).collect()[0]
    unscored = [r.object_id for r in objects.where(F.col("score").isNull() | F.isnan("score"))
                .select("object_id").limit(1000).collect()]
    skipped = scored.where(F.col("table") == "skipped")
    return {
        "n_objects": int(row.n), "n_points": int(row.points or 0),
        "n_anomalous_objects": int(row.anomalous or 0),
        "n_intervals": int(row.intervals or 0),
        "n_skipped": skipped.count(),
        "skipped": {r.object_id: r.reason for r in skipped.limit(10).collect()},
        "unscored": unscored,
        "training_curves": again,
        "tables": {t: f"{out}/{t}" for t in TABLES},
    }


if __name__ == "__main__":  # spark-submit runs this file: the arguments of `lcad spark-score`
    from lcad.cli import main

    raise SystemExit(main(["spark-score", *sys.argv[1:]]))
