"""Do flagged intervals cover whole events? Kepler injections and discords (bench.quality's
cases), one model per suite as there, scored with `scoring.extend_z` at 0 (flagged points
only), 0.5 and 1 (the default).

    python -m bench.intervals          # ~3 min on 2 cores

Per suite: events found (an interval touches them), the mean share of a found event's points
inside intervals (coverage), and the share of interval points that lie in an event
(precision; Kepler's own unlabelled outliers count against it).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from bench.common import table
from bench.quality import Case, discord_cases, fit_lcad, kepler_cases
from lcad.models.config import DetectorConfig
from lcad.models.detector import Detector
from lcad.training.evaluate import true_runs

LEVELS = (0.0, 0.5, 1.0)


def coverage(det: Detector, cases: Sequence[Case]) -> tuple[int, int, list[float], int, int]:
    """(events, found, coverage of each found event, interval points in events, all)."""
    by = {r.object_id: r for r in det.score([c.test for c in cases], on_error="skip")}
    events = found = inside = total = 0
    cover: list[float] = []
    for c in cases:
        t = c.test.time
        flagged = np.zeros(t.size, bool)
        for iv in by[c.object_id].intervals:
            flagged |= (t >= iv.start) & (t <= iv.end)
        inside += int((flagged & c.truth).sum())
        total += int(flagged.sum())
        for a, b in true_runs(c.truth):
            events += 1
            if flagged[a:b].any():
                found += 1
                cover.append(float(flagged[a:b].mean()))
    return events, found, cover, inside, total


def main() -> int:
    rows = []
    for suite, cases, per_case in (("kepler", kepler_cases(0, per_kind=15), False),
                                   ("discord", discord_cases(0), True)):
        groups = [[c] for c in cases] if per_case else [cases]
        fitted = [(fit_lcad([c.train for c in g], DetectorConfig()), g) for g in groups]
        for level in LEVELS:
            sums = [0, 0, 0, 0]
            cover: list[float] = []
            for det, g in fitted:
                det.config.scoring.extend_z = level
                ev, fo, cov, ins, tot = coverage(det, g)
                sums = [sums[0] + ev, sums[1] + fo, sums[2] + ins, sums[3] + tot]
                cover += cov
            rows.append([suite, f"{level:g}", f"{sums[1]} of {sums[0]}",
                         f"{np.mean(cover):.3f}" if cover else "-",
                         f"{sums[2] / max(sums[3], 1):.3f}", str(sums[3])])
    print(table(["suite", "extend_z", "events found", "coverage", "precision",
                 "interval points"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
