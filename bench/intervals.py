"""Do flagged intervals cover whole events, and only them? bench.quality's cases, one model
per suite for Kepler and one a series elsewhere, as there.

- Kepler (the scan): scored with `scoring.extend_z` at 0 (flagged points only), 0.5 and 1
  (the default; session 8).
- The discords, NAB and the synthetic stars (novelty on most of them): scored with
  `scoring.novelty_intervals` "flagged" (each run of flagged points, as before session 47)
  and "core" (the default: each run narrowed to the points every covering window finds
  novel). The key changes nothing on the series the scan scores.

    python -m bench.intervals          # ~8 min on 2 cores; bench/results/intervals.txt

Per suite: events found (an interval touches them), the mean share of a found event's points
inside intervals (coverage), the share of interval points that lie in an event (precision;
Kepler's own unlabelled outliers count against it), and the interval points.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from bench.common import machine, table
from bench.quality import (
    Case,
    discord_cases,
    fit_lcad,
    kepler_cases,
    nab_cases,
    synthetic_cases,
)
from lcad.models.config import DetectorConfig
from lcad.models.detector import Detector
from lcad.training.evaluate import IntervalCounts, interval_mask

ROOT = Path(__file__).resolve().parents[1]
LEVELS = (0.0, 0.5, 1.0)
NOVELTY_INTERVALS = ("flagged", "core")


def coverage(det: Detector, cases: Sequence[Case], counts: IntervalCounts) -> None:
    """Add the cases' labelled events against the intervals `det` reports on them."""
    by = {r.object_id: r for r in det.score([c.test for c in cases], on_error="skip")}
    for c in cases:
        counts.add(c.truth, interval_mask(c.test.time, by[c.object_id].intervals))


def rows_for(suite: str, fitted: list[tuple[Detector, list[Case]]], key: str,
             levels: Sequence[object], setter: Callable[[Detector, object], None]
             ) -> list[list[str]]:
    rows = []
    for level in levels:
        counts = IntervalCounts()
        for det, g in fitted:
            setter(det, level)
            coverage(det, g, counts)
        rows.append([suite, f"{key}={level}", f"{counts.found} of {counts.events}",
                     f"{np.mean(counts.coverage):.3f}" if counts.coverage else "-",
                     f"{counts.inside / max(counts.total, 1):.3f}", str(counts.total)])
    return rows


def _extend_z(det: Detector, level: object) -> None:
    det.config.scoring.extend_z = float(level)  # type: ignore[arg-type]


def _novelty_intervals(det: Detector, level: object) -> None:
    det.config.scoring.novelty_intervals = level  # type: ignore[assignment]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "intervals.txt")
    args = ap.parse_args(argv)
    rows = []
    kepler = kepler_cases(0, per_kind=15)
    rows += rows_for("kepler", [(fit_lcad([c.train for c in kepler], DetectorConfig()), kepler)],
                     "extend_z", LEVELS, _extend_z)
    novelty_counts = []
    for suite, cases in (("discord", discord_cases(0)), ("nab", nab_cases()),
                         ("synthetic", synthetic_cases())):
        fitted = [(fit_lcad([c.train], DetectorConfig()), [c]) for c in cases]
        novelty_counts.append(f"{suite} {sum(d.point_method == 'novelty' for d, _ in fitted)} "
                              f"of {len(fitted)}")
        rows += rows_for(suite, fitted, "novelty_intervals", NOVELTY_INTERVALS,
                         _novelty_intervals)
    text = (f"# python -m bench.intervals; {machine()}\n"
            f"series scored by novelty: {', '.join(novelty_counts)}\n\n"
            + table(["suite", "setting", "events found", "coverage", "precision",
                     "interval points"], rows) + "\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
