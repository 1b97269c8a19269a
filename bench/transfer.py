"""Transfer learning (issue 23): fine-tuning on a tenth of a new star's data vs training from
scratch on that same tenth, leave one Kepler star out.

For each of the 4 stars in ../shared/data/kepler: a parent detector trains on the other three
stars' training parts (the first 40 % of each, bench.quality's split); the held-out star
gives only the first tenth of its training part (~2,600 points, ~54 days) to learn from; its
test part (the last 60 %, with bench.quality's injected dips, flares and oscillations) is
scored by
- scratch: a detector trained on the tenth alone;
- finetune (frozen): the parent's weights, encoder frozen, decoder trained on the tenth
  (`lcad finetune`'s default); finetune (tuned): every weight, learning rate x 0.1;
every one recalibrated on the tenth; the fine-tuned ones keep the parent's choice of point
score (`finetune_config`; `--rechoose` adds one that chooses again on the tenth).
Reported: point PR-AUC and event recall at 1 % false alarms on the test part, and the
reconstruction loss (masked MSE, normalised units) of the test part's windows; mean ± std
over the 4 held-out stars.

    .venv/bin/python -m bench.transfer                   # Kepler, ~10 min on 2 cores
    .venv/bin/python -m bench.transfer --suite discord   # the 6 quasi-periodic series

`--suite discord`: bench.quality's discord series (ECG- and respiration-like, one distorted
cycle in the test part), leave one series out the same way (a tenth = 400 points, ~3
cycles), window 64; "located" counts the series whose top score is on the distorted cycle.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from bench.common import machine, table
from bench.quality import discord_cases, kepler_cases, lcad_scores, located, metrics

CONFIGS = {"kepler": {"preprocess": {"window": 48}, "train": {"epochs": 15}},
           "discord": {"preprocess": {"window": 64}, "train": {"epochs": 15}}}
TENTH = 0.1


def recon_loss(det, curve) -> float:
    from lcad.models.fit import window_arrays

    x, y, _ = window_arrays(det, [curve], det.config.train.stride)
    _, r = det.predict_arrays(x)
    d = det.input_dim
    m = y[:, d: 2 * d]
    return float(np.sum(((r - y[:, :d]) * m) ** 2) / max(np.sum(m), 1))


def main() -> None:
    import argparse
    import warnings

    from lcad.models.config import DetectorConfig
    from lcad.models.fit import finetune_config, fit_detector, warm_start

    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", choices=sorted(CONFIGS), default="kepler")
    ap.add_argument("--rechoose", action="store_true",
                    help="also fine-tune with the point score chosen again on the tenth")
    args = ap.parse_args()
    suite, rechoose = args.suite, args.rechoose
    warnings.simplefilter("ignore")
    config = CONFIGS[suite]
    cfg = DetectorConfig.from_dict(config)
    cases = kepler_cases(seed=0, per_kind=15) if suite == "kepler" else discord_cases()
    rows: dict[str, list[dict[str, float]]] = {}
    print(f"# .venv/bin/python -m bench.transfer --suite {suite}"
          f"{' --rechoose' if rechoose else ''}\n{machine()}\n"
          f"config {config}\n", flush=True)
    for held in cases:
        others = [c.train for c in cases if c is not held]
        parent, _ = fit_detector(others, cfg)
        n = int(TENTH * held.train.time.size)
        tenth = held.train.slice_time(-np.inf, float(held.train.time[n]))
        runs = {"scratch": fit_detector([tenth], cfg)[0]}
        for encoder in ("frozen", "tuned"):  # `lcad finetune --encoder ENCODER`
            name = "finetune (frozen encoder)" if encoder == "frozen" else \
                "finetune (tuned, lr x 0.1)"
            runs[name] = fit_detector(
                [tenth], finetune_config(parent, encoder=encoder),
                model=warm_start(parent, freeze_encoder=encoder == "frozen"),
                preprocessor=parent.preprocessor)[0]
        if rechoose:  # session 13's protocol: the point score chosen again on the tenth
            runs["finetune (tuned), point score chosen on the tenth"] = fit_detector(
                [tenth], finetune_config(parent, overrides=["scoring.point=auto"]),
                model=warm_start(parent, freeze_encoder=False),
                preprocessor=parent.preprocessor)[0]
        runs["parent as is (no data of this star)"] = parent
        for name, det in runs.items():
            scores = lcad_scores(det, [held])
            m = metrics([held], scores)
            row = {"pr_auc": m["mean_pr_auc"], "recall": m["event_recall"],
                   "recon": recon_loss(det, held.test), "located": located([held], scores)}
            rows.setdefault(name, []).append(row)
            print(held.object_id, name, {k: round(v, 4) for k, v in row.items()}, flush=True)

    def cell(values: list[float]) -> str:
        return f"{np.mean(values):.3f} ± {np.std(values):.3f}"

    print(f"\n## held-out star, a tenth of its training part ({len(cases)} stars, "
          "mean ± std)\n")
    print(table(["model", "point PR-AUC", "event recall @1% FA", "test reconstruction MSE",
                 "located"],
                [[name, cell([r["pr_auc"] for r in rs]), cell([r["recall"] for r in rs]),
                  cell([r["recon"] for r in rs]),
                  f"{sum(r['located'] for r in rs):.0f} of {len(rs)}"]
                 for name, rs in rows.items()]))


if __name__ == "__main__":
    main()
