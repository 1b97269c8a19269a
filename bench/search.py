"""Coarse-to-fine, TPE and random search at the same budget (issue 23): what narrowing buys.

The search `lcad sweep` runs (training/sweep.py: `sample_plans`, `narrowed`), without MLflow:
learning rate (1e-4..1e-1, log) and latent size (2..16, log, integer) of the tests' tiny
network on synthetic sinusoids with injected flares and dips (window 32, 10 epochs); the
metric is the run's own detection metric `injected.pr_auc` (maximised). Budget 12 trials:
random = 12 random trials; coarse-to-fine = 6 coarse + 6 fine (shrink 0.25); TPE = Optuna's
sampler (`method: tpe`, `tpe_search`), 4 random startup trials then 8 proposed. Each search is
repeated with 4 seeds; reported: the best value found (mean ± std) and how many of the 4
searches found a value within 0.01 of the best any search found.

    .venv/bin/python -m bench.search        # ~15 min on 2 cores
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from bench.common import machine, table

BUDGET, COARSE, SEEDS = 12, 6, 4
SPEC = ("data: unused.csv\nmethod: coarse-to-fine\nshrink: 0.25\nmetric: injected.pr_auc\n"
        "parameters:\n  train.learning_rate: {low: 0.0001, high: 0.1, log: true}\n"
        "  model.latent: {low: 2, high: 16, log: true, integer: true}\n")


def main() -> None:
    import tempfile
    import warnings
    from pathlib import Path

    from lcad.models.config import DetectorConfig
    from lcad.models.fit import fit_detector, split_curves
    from lcad.models.synthetic import synthetic_dataset
    from lcad.training.evaluate import injection_check
    from lcad.training.sweep import load_spec, narrowed, sample_plans, tpe_search

    warnings.simplefilter("ignore")
    path = Path(tempfile.mkdtemp()) / "sweep.yaml"
    path.write_text(SPEC)
    spec = load_spec(path)
    base = DetectorConfig.from_dict({"preprocess": {"window": 32},
                                     "model": {"hidden": [64]},
                                     "train": {"epochs": 10, "stride": 2, "patience": 4}})
    curves, _ = synthetic_dataset(24, seed=1, n_points=800, kinds=("sinusoid", "eclipsing"),
                                  period_range=(0.5, 0.7))
    cache: dict[tuple, float] = {}

    def value(plan: dict) -> float:
        key = tuple(sorted(plan.items()))
        if key not in cache:
            cfg = base.with_overrides([f"{k}={v}" for k, v in plan.items()])
            splits = split_curves(curves, cfg)
            det, _ = fit_detector(curves, cfg, splits=splits)
            cache[key] = float(injection_check(det, splits.validation)["injected.pr_auc"])
        return cache[key]

    def tpe_best(seed: int) -> float:
        path.write_text(SPEC.replace("coarse-to-fine", "tpe")
                        + f"startup_trials: 4\nseed: {seed}\ngoal: maximize\n")
        tried: list[float] = []

        def run(plan: dict, _trial: object) -> float:
            tried.append(value(plan))
            return tried[-1]

        tpe_search(load_spec(path), BUDGET, run)
        return max(tried)

    print(f"# .venv/bin/python -m bench.search\n{machine()}\n", flush=True)
    found: dict[str, list[float]] = {"random": [], "coarse-to-fine": [], "tpe": []}
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        found["random"].append(max(value(p) for p in sample_plans(spec.parameters, BUDGET,
                                                                  rng)))
        rng = np.random.default_rng(seed)
        coarse = sample_plans(spec.parameters, COARSE, rng)
        best = max(coarse, key=value)
        fine = sample_plans(narrowed(spec, best), BUDGET - COARSE,
                            np.random.default_rng(seed + 100))
        found["coarse-to-fine"].append(max(value(p) for p in [*coarse, *fine]))
        found["tpe"].append(tpe_best(seed))
        print(seed, {k: round(v[-1], 4) for k, v in found.items()}, flush=True)
    top = max(cache.values())
    print(f"\n## best injected.pr_auc found with {BUDGET} trials ({SEEDS} searches each; "
          f"{len(cache)} distinct configs trained; best of all {top:.4f})\n")
    print(table(["search", "best found (mean ± std)", "searches within 0.01 of the best"],
                [[k, f"{np.mean(v):.4f} ± {np.std(v):.4f}",
                  f"{sum(x >= top - 0.01 for x in v)} of {len(v)}"]
                 for k, v in found.items()]))


if __name__ == "__main__":
    main()
