"""Batch scoring to CSV/Parquet in chunks, so memory holds one chunk of objects."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from models.detector import Detector
from training.io import iter_curves


class TableWriter:
    """Appends frames to a CSV or Parquet file."""

    def __init__(self, path: Path):
        self.path = path
        self.parquet = path.suffix.lower() == ".parquet"
        self._writer: Any = None
        self._started = False
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, frame: pd.DataFrame) -> None:
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, table.schema)
            self._writer.write_table(table.cast(self._writer.schema))
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


def objects_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.objects{output.suffix}")


def score_to_file(
    det: Detector,
    data: str | Path,
    output: Path,
    columns: Mapping[str, str | None] | None = None,
    unit: str = "auto",
    threshold: float | None = None,
    batch_objects: int = 256,
) -> dict[str, Any]:
    """Score every curve under `data`; write points to `output`, objects beside it."""
    points = TableWriter(output)
    objects = TableWriter(objects_path(output))
    summary: dict[str, Any] = {"n_objects": 0, "n_points": 0, "n_anomalous_objects": 0,
                               "n_intervals": 0, "skipped": {},
                               "objects_file": str(objects_path(output))}
    bar = tqdm(unit="obj", desc="scoring", file=sys.stderr, disable=not sys.stderr.isatty())
    try:
        for _, curves in iter_curves(data, columns, unit):
            for lo in range(0, len(curves), batch_objects):
                chunk = curves[lo: lo + batch_objects]
                result = det.score(chunk, threshold=threshold, on_error="skip")
                summary["skipped"].update(result.skipped)
                if len(result):
                    points.write(result.points_frame())
                    obj = result.to_frame()
                    objects.write(obj)
                    summary["n_objects"] += len(obj)
                    summary["n_points"] += int(obj["n_points"].sum())
                    summary["n_anomalous_objects"] += int(obj["is_anomalous"].sum())
                    summary["n_intervals"] += int(obj["n_intervals"].sum())
                bar.update(len(chunk))
    finally:
        bar.close()
        points.close(POINT_COLUMNS)
        objects.close(OBJECT_COLUMNS)
    return summary
