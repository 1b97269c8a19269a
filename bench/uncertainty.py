"""Uncertainty of scores (issue 23): what N random passes cost, and what their spread says.

Detectors trained on synthetic sinusoids (800 points, window 32, the tests' tiny network)
in three variants: plain + dropout 0.1 (Monte-Carlo dropout), variational without dropout
(its posterior sampled), variational + dropout 0.1. Each scores held-out sinusoids and four
kinds of curve unlike them with `Detector.score(samples=N)`:
- cost: seconds for 20 curves with 0 (the deterministic answer), 5 and 20 samples; per pass;
- spread: the mean point-score spread (std over passes), the mean object-score spread and
  the mean object score, per kind, for 5 seeds of the passes.

    .venv/bin/python -m bench.uncertainty          # ~4 min on 2 cores
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from bench.common import machine, table

SYNTH = dict(n_points=800, kinds=("sinusoid",), period_range=(0.5, 0.7))
VARIANTS = (("plain", 0.1), ("variational", 0.0), ("variational", 0.1))


def kinds() -> dict[str, list]:
    from lcad.models.lightcurve import LightCurve
    from lcad.models.synthetic import synthetic_dataset

    rng = np.random.default_rng(3)
    normal, _ = synthetic_dataset(6, seed=7, **SYNTH)  # type: ignore[arg-type]
    t = normal[0].time

    def curves(prefix: str, make) -> list:
        return [LightCurve.from_arrays(f"{prefix}{i}", t, make(), emit_warnings=False)
                for i in range(6)]

    other, _ = synthetic_dataset(6, seed=7, n_points=800, kinds=("eclipsing", "rrlyrae"),
                                 period_range=(0.1, 0.2))
    return {
        "held-out sinusoids": normal,
        "eclipsing / RR Lyrae shapes, P 0.1-0.2": other,
        "random walk": curves("w", lambda: 10 + np.cumsum(rng.normal(0, 0.1, t.size))),
        "white noise": curves("n", lambda: 10 + rng.normal(0, 1, t.size)),
        "fast sinusoid, P 0.08": curves(
            "f", lambda: 10 + np.sin(2 * np.pi * t / 0.08) + rng.normal(0, 0.05, t.size)),
    }


def main() -> None:
    from lcad.models.config import DetectorConfig
    from lcad.models.fit import fit_detector
    from lcad.models.synthetic import synthetic_dataset

    print(f"# .venv/bin/python -m bench.uncertainty\n{machine()}\n")
    cost_rows, spread_rows = [], []
    sets = kinds()
    for variant, dropout in VARIANTS:
        cfg = DetectorConfig.from_dict({
            "preprocess": {"window": 32},
            "model": {"hidden": [64], "latent": 8, "variant": variant, "dropout": dropout},
            "train": {"epochs": 30, "stride": 2, "patience": 5}})
        train, _ = synthetic_dataset(30, seed=1, **SYNTH)  # type: ignore[arg-type]
        det, _ = fit_detector(train, cfg)
        name = f"{variant}, dropout {dropout:g}"
        twenty, _ = synthetic_dataset(20, seed=11, **SYNTH)  # type: ignore[arg-type]
        det.score(twenty[:2], samples=2)  # warm up both paths
        seconds = {}
        for n in (0, 5, 20):
            t0 = time.perf_counter()
            det.score(twenty, samples=n, seed=0)
            seconds[n] = time.perf_counter() - t0
        per_pass = (seconds[20] - seconds[0]) / 20
        cost_rows.append([name, f"{seconds[0]:.2f}", f"{seconds[5]:.2f}", f"{seconds[20]:.2f}",
                          f"{per_pass:.3f} ({per_pass / seconds[0]:.2f}x one scoring)"])
        for kind, curves in sets.items():
            pts, objs, score = [], [], []
            for seed in range(5):
                res = det.score(curves, samples=16, seed=seed)
                pts.append(np.nanmean(np.concatenate(
                    [c.uncertainty.point_score_std for c in res])))
                objs.append(np.nanmean([c.uncertainty.score_std for c in res]))
                score.append(np.nanmean([c.score for c in res]))
            spread_rows.append([name, kind, f"{np.mean(pts):.3f} ± {np.std(pts):.3f}",
                                f"{np.mean(objs):.3f} ± {np.std(objs):.3f}",
                                f"{np.mean(score):.2f}"])
            print(spread_rows[-1], flush=True)
    print("\n## cost: 20 curves x 800 points\n")
    print(table(["model", "samples 0 (s)", "5 (s)", "20 (s)", "per pass (s)"], cost_rows))
    print("\n## spread over 16 passes (mean ± std over 5 seeds of the passes)\n")
    print(table(["model", "curves", "point-score spread", "object-score spread",
                 "object score"], spread_rows))


if __name__ == "__main__":
    main()
