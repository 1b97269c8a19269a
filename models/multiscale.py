"""One autoencoder per coarser view: the network sees the long patterns itself.

A window of `window` grid points is too short for a pattern that spans days (a daily cycle of
5-minute data is 288 points). Novelty already compares coarser views of every curve (the grid
averaged over `factor` points, cut into windows of the same length: models/novelty.py); with
`scoring.coarse_networks` each such view also gets its own dense autoencoder, of the same
architecture and loss as the windows' network, trained on the training split's coarse windows
(validation split for early stopping). A coarser view's novelty then has the same parts as the
windows' own (`scoring.novelty_parts`: input distance, latent distance, reconstruction error),
and the run says what each view's network learned (`coarse<k>_recon_r2`, its noise ceiling,
its active units).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from lcad.models import diagnostics
from lcad.models.autoencoder import build_autoencoder, make_loss, make_metrics, make_optimizer
from lcad.models.errors import LightCurveError
from lcad.models.lightcurve import LightCurve
from lcad.models.novelty import CoarseWindows, coarse_windows, recon_error

if TYPE_CHECKING:
    from lcad.models.detector import Detector, Prepared

MIN_COARSE_WINDOWS = 16  # fewer training windows in a view: it gets no network
# updates an epoch makes at least: a view has a quarter of the windows' training windows, a
# few dozen on one NAB series; at one update an epoch its network learned R^2 0.80 of NAB's
# daily cycles, at 16 0.90 (bench.views, docs/quality-log.md session 18)
COARSE_MIN_BATCHES = 16


def view_windows(det: Detector, p: Prepared, factor: int) -> CoarseWindows:
    """The curve's windows in the view averaged over `factor` grid points (none without grid
    values: per-window normalisation)."""
    if p.xgrid is None:
        empty = np.zeros((0, det.input_dim), np.float32)
        return CoarseWindows(empty, empty, empty, np.zeros(0, np.int64))
    return coarse_windows(p.xgrid, p.res.mask, factor, det.window,
                          det.config.preprocess.min_valid_fraction, errors=p.errors)


def view_outputs(det: Detector, cw: CoarseWindows, factor: int
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """(latent codes, reconstruction errors) of a view's windows through the view's network;
    None when the view has none."""
    if factor not in det.coarse or not cw.starts.size:
        return None
    z, r = det.predict_arrays(cw.inputs(), det.coarse_network(factor))
    err = cw.err if det.config.scoring.error == "chi2" else None
    return z, recon_error(cw.x, cw.mask, err, r)


def _stack(det: Detector, curves: Sequence[LightCurve], factor: int
           ) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for c in curves:
        if not c.mask.any():
            continue
        try:
            cw = view_windows(det, det.prepare(c), factor)
        except LightCurveError:
            continue
        xs.append(cw.inputs())
        ys.append(cw.targets())
    if not xs:
        d = det.input_dim
        return np.zeros((0, 2 * d), np.float32), np.zeros((0, 3 * d), np.float32)
    return np.concatenate(xs), np.concatenate(ys)


def fit_view_networks(det: Detector, train: Sequence[LightCurve],
                      validation: Sequence[LightCurve], factors: Sequence[int],
                      stop: Callable[[], keras.callbacks.Callback], verbose: int = 0
                      ) -> tuple[dict[str, float], dict[str, Any]]:
    """Train one autoencoder per view in `factors` into `det.coarse` (views with fewer than
    MIN_COARSE_WINDOWS training windows get none). Returns their metrics (`coarse<k>_*`) and
    what each learned (diagnostics, by view)."""
    cfg, tcfg = det.config, det.config.train
    metrics: dict[str, float] = {}
    learned: dict[str, Any] = {}
    rng = np.random.default_rng(tcfg.seed)
    for factor in factors:
        x_tr, y_tr = _stack(det, train, factor)
        if x_tr.shape[0] < MIN_COARSE_WINDOWS:
            continue
        x_va, y_va = _stack(det, validation, factor)
        if tcfg.max_windows and x_tr.shape[0] > tcfg.max_windows:
            keep = rng.choice(x_tr.shape[0], tcfg.max_windows, replace=False)
            x_tr, y_tr = x_tr[keep], y_tr[keep]
        if x_va.shape[0] == 0:  # hold out a tenth of the training windows instead
            idx = rng.permutation(x_tr.shape[0])
            n_va = max(1, x_tr.shape[0] // 10)
            x_va, y_va = x_tr[idx[:n_va]], y_tr[idx[:n_va]]
            x_tr, y_tr = x_tr[idx[n_va:]], y_tr[idx[n_va:]]
        dim = det.input_dim
        keras.utils.set_random_seed(tcfg.seed + factor)
        net = build_autoencoder(dim, cfg.model, seed=tcfg.seed + factor,
                                window=cfg.sliding_window())
        batch = tcfg.batch_for(x_tr.shape[0], max(tcfg.min_batches, COARSE_MIN_BATCHES))
        steps = int(np.ceil(x_tr.shape[0] / batch))
        net.compile(optimizer=make_optimizer(tcfg, steps), loss=make_loss(dim, cfg.model),
                    metrics=make_metrics(dim, cfg.model))
        history = net.fit(x_tr, y_tr, validation_data=(x_va, y_va), epochs=tcfg.epochs,
                          batch_size=batch, shuffle=True, verbose=verbose,
                          callbacks=[stop()])
        det.coarse[factor] = net
        z, r = det.predict_arrays(x_va, det.coarse_network(factor))
        got = diagnostics.measure(z, r, y_va, cfg.model.variant == "variational")
        key = f"coarse{factor}"
        metrics.update({f"{key}_{k}": v for k, v in got.metrics().items()})
        metrics[f"{key}_epochs_run"] = float(len(history.history.get("loss", [])))
        if history.history.get("val_loss"):
            metrics[f"{key}_best_val_loss"] = float(np.nanmin(history.history["val_loss"]))
        learned[str(factor)] = got.to_dict()
    return {k: v for k, v in metrics.items() if np.isfinite(v)}, learned
