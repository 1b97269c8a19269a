"""Fit a Detector: split, preprocess, train the autoencoder, calibrate on held-out data."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from lcad.models import diagnostics
from lcad.models.autoencoder import build_autoencoder, make_loss, make_metrics, make_optimizer
from lcad.models.config import DetectorConfig, PreprocessConfig
from lcad.models.detector import Detector
from lcad.models.errors import ConfigError, FitNote, FitWarning, LcadError, LightCurveError
from lcad.models.lightcurve import DEFAULT_BAND, LightCurve
from lcad.models.multiscale import fit_view_networks
from lcad.models.objects import ObjectModel
from lcad.models.parallel import ShardedBatches, data_parallel, local_copy, validation_batches
from lcad.models.point_scores import POINT_SCORERS, point_score_reason
from lcad.models.preprocess import Preprocessor
from lcad.models.windows import make_windows

MIN_OBJECTS_FOR_OBJECT_SPLIT = 10


@dataclass
class Splits:
    train: list[LightCurve]
    validation: list[LightCurve]
    calibration: list[LightCurve]
    by: str  # "object" or "time"


def split_curves(curves: Sequence[LightCurve], cfg: DetectorConfig) -> Splits:
    """By object when there are many, else each curve by time (train, then val, then cal)."""
    t = cfg.train
    if not curves:
        raise LightCurveError("no light curves to train on")
    n = len(curves)
    if n >= MIN_OBJECTS_FOR_OBJECT_SPLIT:
        order = np.random.default_rng(t.seed).permutation(n)
        n_val = max(1, round(n * t.validation_fraction))
        n_cal = max(1, round(n * t.calibration_fraction))
        val = [curves[i] for i in order[:n_val]]
        cal = [curves[i] for i in order[n_val: n_val + n_cal]]
        train = [curves[i] for i in order[n_val + n_cal:]]
        return Splits(train, val, cal, "object")
    train, val, cal = [], [], []
    f_train = 1.0 - t.validation_fraction - t.calibration_fraction
    for c in curves:
        tv = c.time[c.mask]
        a, b = np.quantile(tv, [f_train, f_train + t.validation_fraction])
        train.append(c.slice_time(-np.inf, a))
        val.append(c.slice_time(a, b))
        cal.append(c.slice_time(b, np.inf))
    return Splits(train, val, cal, "time")


def window_arrays(det: Detector, curves: Sequence[LightCurve], stride: int
                  ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Model inputs and targets of every usable window; curves without one are listed."""
    xs, ys, skipped = [], [], []
    for c in curves:
        if not c.mask.any():
            skipped.append(c.object_id)
            continue
        try:
            p = det.prepare(c, stride=stride)
        except LightCurveError:
            skipped.append(c.object_id)
            continue
        if not p.valid.any():  # no window observed enough (sampled coarser than the grid)
            skipped.append(c.object_id)
            continue
        xs.append(p.model_input()[p.valid])
        ys.append(p.targets()[p.valid])
    if not xs:
        return np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32), skipped
    return np.concatenate(xs), np.concatenate(ys), skipped


def _grid_points(pre: Preprocessor, curve: LightCurve) -> int:
    """The curve's grid points after resampling, as the preprocessing counts them for the
    "too short" reasons (0 where it cannot be resampled)."""
    try:
        return pre.resample(curve).n_grid
    except LightCurveError:
        return 0


def _usable(det: Detector, curves: Sequence[LightCurve]) -> bool:
    """At least one curve gives a usable window."""
    for c in curves:
        try:
            if det.prepare(c).valid.any():
                return True
        except LightCurveError:
            pass
    return False


IN_SAMPLE = "calibrated on the training data itself"  # the fallback message says so


def calibration_curves(det: Detector, splits: Splits, curves: Sequence[LightCurve]
                       ) -> tuple[list[LightCurve], str | None]:
    """The held-out curves to calibrate on, and what was done when the calibration part has
    no usable window: calibrate on the validation and calibration parts together, else on
    the training data itself (in-sample: thresholds a little low, so a few more false alarms
    than `target_far`)."""
    cal = [c for c in splits.calibration if c.mask.any()]
    if _usable(det, cal):
        return cal, None
    if splits.by == "time":  # each curve from where its validation part starts
        held = [c.slice_time(float(v.time.min()), np.inf)
                for c, v in zip(curves, splits.validation, strict=True) if v.time.size]
    else:
        held = [*splits.validation, *splits.calibration]
    held = [c for c in held if c.mask.any()]
    frac = det.config.train.validation_fraction + det.config.train.calibration_fraction
    what = (f"the last {det.config.train.calibration_fraction:.0%} of each series"
            if splits.by == "time" else "the calibration objects")
    if _usable(det, held):
        return held, (f"{what} has no usable window of {det.window} grid points: calibrated "
                      f"on the held-out {frac:.0%} (validation and calibration parts together)")
    # the training curves hold a usable window (fit_detector checked): in-sample always works
    whole = [c for c in (curves if splits.by == "time" else splits.train) if c.mask.any()]
    return whole, (f"no held-out part has a usable window of {det.window} grid points: "
                   f"{IN_SAMPLE}, so expect somewhat more false "
                   f"alarms than the target rate; longer series or a smaller --window give a "
                   f"held-out calibration")


def _in_sample(cal_fallback: str | None) -> bool:
    """Whether `calibration_curves` fell back to the training data itself."""
    return cal_fallback is not None and IN_SAMPLE in cal_fallback


def _held_out_windows(det: Detector, x_va: np.ndarray, y_va: np.ndarray,
                      cal_curves: Sequence[LightCurve], cal_fallback: str | None, stride: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Every held-out window the network's diagnostics can use: the validation windows and
    the calibration windows (a short series' validation part alone can be a few hours of a
    daily cycle, whose R^2 says little about the series). A calibration that fell back to
    the validation and calibration parts together is those windows already; one that fell
    back to the training data is not held out, and the validation windows stay alone."""
    if _in_sample(cal_fallback):
        return x_va, y_va
    x_cal, y_cal, _ = window_arrays(det, cal_curves, stride)
    if x_cal.shape[0] == 0:
        return x_va, y_va
    if cal_fallback is not None:  # the calibration curves hold the validation part
        return x_cal, y_cal
    return np.concatenate([x_va, x_cal]), np.concatenate([y_va, y_cal])


MIN_WHOLE_WINDOW = 8
MIN_SLIDING_WINDOW = 16  # the shortest window mode "auto" halves a sliding window to
MIN_SLIDING_WINDOWS = 4  # windows a typical curve's grid must span to be cut into windows


def grid_coverage(curves: Sequence[LightCurve], cadence: float) -> float:
    """Median over curves and bands of the share of a curve's grid steps (at `cadence`)
    that hold an observation: ~1 for a dense series, ~0.1 for a survey curve."""
    shares = []
    for c in curves:
        labels = c.band_labels()
        for b in c.bands:
            t = np.unique(c.time[(labels == b) & c.mask])
            if t.size >= 2:
                shares.append(min(1.0, t.size / ((t[-1] - t[0]) / cadence + 1)))
    return float(np.median(shares)) if shares else 0.0


def resolve_mode(config: DetectorConfig, curves: Sequence[LightCurve],
                 split_by: str = "object") -> tuple[DetectorConfig, float | None]:
    """`preprocess.mode` "auto" made concrete from the training curves: sliding windows when
    the typical curve fills `min_valid_fraction` of its cadence grid (a window of it would be
    usable), or when the curves are split by time (a few long series whose continuation is
    scored: a whole curve is not an object there, e.g. NAB's event-timed series); otherwise
    (many objects, each sparse or shorter than MIN_SLIDING_WINDOWS windows of its grid: the
    object is the unit, e.g. 50 survey epochs that fill a 14-day grid) whole-curve mode,
    with the longest window (halving from `preprocess.window`, at least 8)
    whose resampled grid the typical curve fills. Returns the config and the grid coverage
    measured (None when the mode was given)."""
    pcfg = config.preprocess
    if pcfg.mode != "auto":
        return config, None
    sliding = pcfg.model_copy(update={"mode": "sliding"})
    try:
        cadence = Preprocessor.fit(curves, sliding).cadence
    except LightCurveError:
        cadence = 0.0
    coverage = grid_coverage(curves, cadence) if cadence > 0 else 0.0
    short = cadence > 0 and median_grid_length(curves, cadence) < MIN_SLIDING_WINDOWS * \
        pcfg.window
    if split_by == "time" or (coverage >= pcfg.min_valid_fraction and not short):
        chosen = sliding
    else:
        window = pcfg.window
        while window > MIN_WHOLE_WINDOW:
            whole = pcfg.model_copy(update={"mode": "whole", "window": window})
            if _whole_fill(curves, whole) >= pcfg.min_valid_fraction:
                break
            window //= 2
        chosen = pcfg.model_copy(update={"mode": "whole", "window": max(window,
                                                                        MIN_WHOLE_WINDOW)})
    return config.model_copy(update={"preprocess": chosen}), coverage


def _has_window(pre: Preprocessor, curves: Sequence[LightCurve], pcfg: PreprocessConfig,
                window: int) -> bool:
    """Some curve gives a sliding window of `window` grid points with `min_valid_fraction`
    of them observed (what training needs; `window_arrays`)."""
    for c in curves:
        try:
            res = pre.resample(c)
        except LightCurveError:
            continue
        if res.n_grid >= window and (make_windows(res, window, 1).valid_fraction()
                                     >= pcfg.min_valid_fraction).any():
            return True
    return False


def fitting_window(config: DetectorConfig, pre: Preprocessor, curves: Sequence[LightCurve]
                   ) -> tuple[DetectorConfig, str | None]:
    """Mode "auto" with sliding windows (`resolve_mode`): where no training curve gives a
    usable window of `preprocess.window` (a short or gappy training part, e.g. a series'
    first 15 %), the longest window, halving down to MIN_SLIDING_WINDOW, that one does, and
    what was done in words (a FitWarning); the config unchanged and None where the window
    fits or no halving helps (`fit_detector` then names what to change). The way whole-curve
    mode picks its window: no refusal where a shorter window serves."""
    pcfg = config.preprocess
    if _has_window(pre, curves, pcfg, pcfg.window):
        return config, None
    window = pcfg.window // 2
    while window >= MIN_SLIDING_WINDOW:
        if _has_window(pre, curves, pcfg, window):
            return config.model_copy(update={"preprocess": pcfg.model_copy(
                update={"window": window})}), (
                f"no training series gives a window of {pcfg.window} grid points with "
                f"{pcfg.min_valid_fraction:.0%} of them observed (at cadence {pre.cadence:g}): "
                f"trained with window {window} instead (preprocess.mode auto; give longer "
                f"training series, or set preprocess.mode=sliding to keep window "
                f"{pcfg.window} and stop here)")
        window //= 2
    return config, None


# the period rule of sliding mode (`preprocess.window_from_period`, session 35): a series
# repeats when its autocorrelation, after it first falls below 0, peaks at PERIOD_MIN_ACF or
# more; the period is the shortest lag whose peak is within PERIOD_PEAK_SHARE of the highest
# (the fundamental, not a multiple), looked for up to a share 1 / PERIOD_MIN_CYCLES of the
# series (the network must see several cycles) and MAX_PERIOD_WINDOW grid points
PERIOD_MIN_ACF = 0.3
PERIOD_PEAK_SHARE = 0.8
PERIOD_MIN_CYCLES = 8
MAX_PERIOD_WINDOW = 1024


def grid_period(values: np.ndarray, mask: np.ndarray) -> int | None:
    """The period of one band of a curve on its grid, in grid points (masked points left
    out of the autocorrelation), or None where it does not repeat (PERIOD_MIN_ACF) within
    min(MAX_PERIOD_WINDOW, its length / PERIOD_MIN_CYCLES)."""
    n = values.size
    max_lag = min(MAX_PERIOD_WINDOW, n // PERIOD_MIN_CYCLES)
    if max_lag < 4 or mask.sum() < 2 * PERIOD_MIN_CYCLES:
        return None
    x = np.where(mask, values - np.mean(values[mask]), 0.0)
    m = mask.astype(np.float64)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    fx, fm = np.fft.rfft(x, size), np.fft.rfft(m, size)
    num = np.fft.irfft(fx * np.conj(fx), size)[: max_lag + 2]
    pairs = np.fft.irfft(fm * np.conj(fm), size)[: max_lag + 2]
    if num[0] <= 0:
        return None
    ac = np.where(pairs > 0.5, num / np.maximum(pairs, 1.0), 0.0) / (num[0] / pairs[0])
    below = np.flatnonzero(ac[1:] < 0)
    if below.size == 0:
        return None
    lo = int(below[0]) + 1
    inner = ac[lo: max_lag + 1]
    peaks = np.flatnonzero((inner[1:-1] > inner[:-2]) & (inner[1:-1] >= inner[2:])) + 1
    if peaks.size == 0 or inner[peaks].max() < PERIOD_MIN_ACF:
        return None
    best = inner[peaks].max()
    return lo + int(peaks[inner[peaks] >= PERIOD_PEAK_SHARE * best][0])


def _scan_period_window(pcfg: PreprocessConfig, period: int) -> int:
    """The window the scan's period rule trains on: `scan_period_cycles` periods, at most
    `scan_period_max` grid points (session 41)."""
    return min(pcfg.scan_period_cycles * period, pcfg.scan_period_max)


def period_window(config: DetectorConfig, pre: Preprocessor, curves: Sequence[LightCurve]
                  ) -> int | None:
    """The training series' period (`grid_period`; the median over the bands of the curves
    that repeat, when half of them do) where `preprocess.window_from_period` (novelty) or
    `window_from_period_scan` is on and the period is longer than `preprocess.window`, else
    None."""
    pcfg = config.preprocess
    if not (pcfg.window_from_period or pcfg.window_from_period_scan):
        return None
    periods: list[int | None] = []
    for c in curves:
        try:
            res = pre.resample(c)
        except LightCurveError:
            continue
        periods += [grid_period(res.values[b], res.mask[b]) for b in range(res.values.shape[0])]
    found = [p for p in periods if p is not None]
    if not found or 2 * len(found) < len(periods):
        return None
    period = int(np.ceil(np.median(found)))
    return period if period > pcfg.window else None


def _with_window(config: DetectorConfig, window: int | None = None) -> DetectorConfig:
    """The config with the window decided: `window` (or its own), the period rules off (a
    fine-tuned child keeps it)."""
    pcfg = config.preprocess
    return config.model_copy(update={"preprocess": pcfg.model_copy(update={
        "window": window or pcfg.window, "window_from_period": False,
        "window_from_period_scan": False})})


class RefitSteps:
    """Epoch steps of a callback that go on across a second training in one fit (`on_refit`,
    called by `fit_detector` before training again on windows of one period) instead of
    starting over at 0; `first_step`: where a resumed second training's go on from."""

    def __init__(self, first_step: int = 0) -> None:
        self._steps = self._offset = first_step

    def on_refit(self, config: DetectorConfig, period: int | None = None) -> None:
        self._offset = self._steps

    def step(self, epoch: int) -> int:
        """The step of this training's `epoch`."""
        self._steps = epoch + self._offset + 1
        return epoch + self._offset


def median_grid_length(curves: Sequence[LightCurve], cadence: float) -> float:
    """Median number of grid steps (at `cadence`) a curve spans."""
    spans = [(c.time[c.mask][-1] - c.time[c.mask][0]) / cadence + 1 for c in curves
             if c.mask.any()]
    return float(np.median(spans)) if spans else 0.0


def _whole_fill(curves: Sequence[LightCurve], pcfg: PreprocessConfig) -> float:
    """Median share of the `window` grid points near an observation, in whole-curve mode."""
    pre = Preprocessor.fit(curves, pcfg)
    fills = []
    for c in curves:
        try:
            fills.append(float(pre.resample(c).mask.mean()))
        except LightCurveError:
            continue
    return float(np.median(fills)) if fills else 0.0


class RelativeEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' early stopping with `min_delta` as a share of the best value so far: a loss
    that moves by less than that for `patience` epochs has stopped learning, whatever its
    scale (a chi2 loss near 1, a variational loss with its KL term, an MSE near 0.01)."""

    def _is_improvement(self, monitor_value: Any, reference_value: Any) -> bool:
        if reference_value is None:
            return True
        best = float(reference_value)
        return float(monitor_value) < best - abs(self.min_delta) * abs(best)


SCALES_APART = 10.0  # an order of magnitude: pooled, the quieter series look flat


def scales_apart(curves: Sequence[LightCurve]) -> str | None:
    """Why one mean and standard deviation for every training series ("global") would not
    do (None if it would): in some band, a series' own standard deviation is less than
    1/`SCALES_APART` of the pooled one (the series' spreads or levels an order of magnitude
    apart: NAB's taxi counts beside a CPU percentage). Pooled, that series is flat to the
    network."""
    if len(curves) < 2:
        return None
    for band in sorted({b for c in curves for b in c.bands}):
        values = [v[np.isfinite(v)] for v in
                  (c.flux[(c.band_labels() == band) & c.mask] for c in curves)]
        own = [(sd, i) for i, v in enumerate(values) if v.size > 1 and (sd := v.std()) > 0]
        if len(own) < 2:
            continue
        pooled = float(np.concatenate(values).std())
        quietest, i = min(own)
        if quietest * SCALES_APART < pooled:
            where = "" if band == DEFAULT_BAND else f" in band {band}"
            return (f"the {len(own)} training series are on different scales{where}: "
                    f"{curves[i].object_id!r} varies by {quietest:.3g} (standard deviation), "
                    f"all of them pooled by {pooled:.3g}; each series is normalised by its own "
                    "median and MAD (preprocess.normalization=robust); --set "
                    "preprocess.normalization=global pools them")
    return None


def fit_detector(
    curves: Sequence[LightCurve],
    config: DetectorConfig,
    *,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    splits: Splits | None = None,
    model: keras.Model | None = None,
    initial_epoch: int = 0,
    verbose: int = 0,
    preprocessor: Preprocessor | None = None,
) -> tuple[Detector, dict[str, float]]:
    """Train and calibrate a detector; returns it with its metrics.

    `model` and `initial_epoch` continue an interrupted run from a checkpoint, or start from
    another detector's weights (`warm_start`); `preprocessor`: that detector's preprocessing
    (grid cadence, bands, normalisation), so the network sees inputs as it was trained on.
    """
    splits = splits or split_curves(curves, config)
    auto = config.preprocess.mode == "auto"
    observed = [c for c in splits.train if c.mask.any()]
    # the mode first (it does not depend on the normalisation), then the normalisation:
    # sliding windows of series split by time pool them unless their scales are apart
    config, coverage = resolve_mode(config, observed, splits.by)
    apart = scales_apart(observed) if splits.by == "time" and preprocessor is None \
        and config.preprocess.normalization == "auto" \
        and config.preprocess.mode == "sliding" else None  # whole curves keep the pooled scale
    if apart:
        warnings.warn(apart, FitNote, stacklevel=2)
    config = config.resolved(splits.by, shared_scale=not apart)
    tcfg = config.train
    keras.utils.set_random_seed(tcfg.seed)
    pre = preprocessor or Preprocessor.fit(observed, config.preprocess)
    period = None
    rules = config.preprocess  # the period rules asked for (the decided config has them off)
    if auto and config.preprocess.mode == "sliding" and model is None and preprocessor is None:
        period = period_window(config, pre, observed)
        config, shorter = fitting_window(_with_window(config), pre, observed)
        if shorter:
            warnings.warn(shorter, FitWarning, stacklevel=2)
    dim = config.preprocess.window * len(pre.bands)
    other = sorted({b for c in curves for b in c.bands} - set(pre.bands))
    if preprocessor is not None and other:
        raise LcadError(f"bands {other} are not the starting model's {pre.bands}: fine-tune "
                        "on curves with the parent model's bands")
    if model is not None and model.input_shape[-1] != 2 * dim:
        raise LcadError(
            f"the starting network takes {model.input_shape[-1] // 2} values a window; these "
            f"curves give {dim} (window {config.preprocess.window} x bands {pre.bands}): "
            "fine-tune on curves with the parent model's bands")
    window = config.sliding_window()
    net = model or build_autoencoder(dim, config.model, seed=tcfg.seed, window=window)
    det = Detector(config, pre, net)

    x_tr, y_tr, skipped = window_arrays(det, splits.train, tcfg.stride)
    if x_tr.shape[0] == 0:
        pcfg = config.preprocess
        if pcfg.mode == "whole":
            raise LightCurveError(
                f"every training series is too sparse for whole-curve mode with window "
                f"{pcfg.window}: fewer than {pcfg.min_valid_fraction:.0%} of the "
                f"{pcfg.window} grid points of each band have an observation near them; try a "
                f"smaller --window or a lower preprocess.min_valid_fraction")
        longest = max((_grid_points(pre, c) for c in splits.train if c.mask.any()),
                      default=0)
        why = (f"the longest training part covers {longest} grid points: give longer series "
               f"or a --window of at most {longest}" if longest < pcfg.window else
               f"no window has {pcfg.min_valid_fraction:.0%} of its grid points observed: "
               "for sparse survey curves try --set preprocess.mode=whole")
        raise LightCurveError(
            f"every training series is too short or too sparse for window "
            f"{pcfg.window} at cadence {pre.cadence:g} ({why})")
    # before training, not after it
    cal_curves, cal_fallback = calibration_curves(det, splits, curves)
    if cal_fallback:
        warnings.warn(cal_fallback, FitWarning, stacklevel=2)
    x_va, y_va, _ = window_arrays(det, splits.validation, tcfg.stride)
    rng = np.random.default_rng(tcfg.seed)
    if tcfg.max_windows and x_tr.shape[0] > tcfg.max_windows:
        keep = rng.choice(x_tr.shape[0], tcfg.max_windows, replace=False)
        x_tr, y_tr = x_tr[keep], y_tr[keep]
    if x_va.shape[0] == 0:  # no usable validation curve: hold out training windows instead
        n_va = max(1, int(0.1 * x_tr.shape[0]))
        idx = rng.permutation(x_tr.shape[0])
        x_va, y_va = x_tr[idx[:n_va]], y_tr[idx[:n_va]]
        x_tr, y_tr = x_tr[idx[n_va:]], y_tr[idx[n_va:]]

    parallel = data_parallel()  # (shard, processes) when trained by several processes
    batch = tcfg.batch_for(x_tr.shape[0])
    steps = int(np.ceil(x_tr.shape[0] / batch))
    if model is None or getattr(net, "optimizer", None) is None:
        net.compile(optimizer=make_optimizer(tcfg, steps), loss=make_loss(dim, config.model),
                    metrics=make_metrics(dim, config.model))
    stop = RelativeEarlyStopping(monitor="val_loss", mode="min", patience=tcfg.patience,
                                 min_delta=tcfg.min_delta, restore_best_weights=True)
    t0 = time.perf_counter()
    if parallel is None:
        history = net.fit(x_tr, y_tr, validation_data=(x_va, y_va), epochs=tcfg.epochs,
                          batch_size=batch, shuffle=True, verbose=verbose,
                          initial_epoch=initial_epoch,
                          callbacks=[stop, StopOnNonFinite(), *callbacks])
    else:  # every process feeds its part of each global batch (models/parallel.py)
        rank, world = parallel
        history = net.fit(
            ShardedBatches(x_tr, y_tr, batch, rank, world, seed=tcfg.seed),
            validation_data=validation_batches(x_va, y_va, batch, rank, world),
            epochs=tcfg.epochs, verbose=verbose, initial_epoch=initial_epoch,
            # no StopOnNonFinite: a process that stopped alone would leave the others
            # waiting in a collective; early stopping ends them together
            callbacks=[stop, *callbacks])
        net = local_copy(net, lambda: build_autoencoder(dim, config.model, seed=tcfg.seed,
                                                        window=window))
        det = Detector(config, pre, net)
    seconds = time.perf_counter() - t0
    epochs_run = max(1, len(history.history.get("loss", [])))
    diverged = diverged_at(history.history, initial_epoch)
    if diverged is not None:
        val = history.history.get("val_loss", [])
        if not any(np.isfinite(v) for v in val) or \
                not all(np.isfinite(w).all() for w in det.model.get_weights()):
            raise LcadError(
                f"training diverged in its first epoch (the loss was not finite at epoch "
                f"{diverged + 1}) and no epoch reached a finite validation loss: lower "
                f"train.learning_rate (now {tcfg.learning_rate:g}, e.g. --set "
                f"train.learning_rate={tcfg.learning_rate / 10:g})")
        warnings.warn(
            f"training diverged at epoch {diverged + 1} (the loss was not finite) and "
            f"stopped; the weights of the epoch with the best validation loss are kept. A "
            f"lower train.learning_rate (now {tcfg.learning_rate:g}) may train further",
            FitWarning, stacklevel=2)

    # novelty compares with the training windows: split by object, those of the training
    # and validation objects (calibration objects stay held out); split by time, every
    # window of the whole curves (across the split boundaries too), calibrated by self-join
    reference = [c for c in ([*splits.train, *splits.validation] if splits.by == "object"
                             else curves) if c.mask.any()]
    x_ho, y_ho = _held_out_windows(det, x_va, y_va, cal_curves, cal_fallback, tcfg.stride)
    learned = diagnostics.measure(*det.predict_arrays(x_ho), y_ho,
                                  config.model.variant == "variational")
    det.calibrate(cal_curves, reference)
    view_metrics, view_learned = _view_networks(det, splits, cal_curves, reference, verbose)
    object_metrics: dict[str, float] = {}
    if det.whole_curves and config.objects.enabled:
        try:
            det.objects, object_metrics = ObjectModel.fit(splits.train, splits.validation,
                                                          det.bands, config.objects, tcfg.seed)
            # held out from the forest and the network's weights (validation only chose
            # the epoch to stop at): twice the calibration objects alone
            det.calibrate_objects([*cal_curves, *splits.validation] if splits.by == "object"
                                  else cal_curves)
        except LightCurveError as exc:
            warnings.warn(f"{exc.message}: the object score is the resampled curve's "
                          "reconstruction error instead", FitWarning, stacklevel=2)
    metrics = _metrics(det, splits.validation, history.history, seconds,
                       epochs_run * x_tr.shape[0])
    metrics.update(n_train_windows=float(x_tr.shape[0]), n_val_windows=float(x_va.shape[0]),
                   n_skipped_train_curves=float(len(skipped)))
    if coverage is not None:
        metrics["grid_coverage"] = coverage
    metrics.update({k: v for k, v in learned.metrics().items() if np.isfinite(v)})
    metrics.update({k: v for k, v in object_metrics.items() if np.isfinite(v)})
    metrics.update(view_metrics)
    if cal_fallback:
        metrics["calibration_in_sample"] = float(_in_sample(cal_fallback))
    det.metrics = metrics
    det.info.update(split_by=splits.by, point_score=det.point_method,
                    novelty_views=det.novelty_views,
                    autoencoder={**learned.to_dict(
                        POINT_SCORERS[det.point_method].basis,
                        diagnostics.WHOLE_CURVES if det.objects is not None
                        else diagnostics.LONGER_WINDOW),
                                 **({"views": view_learned} if view_learned else {})})
    longer = None
    scan_window = None if period is None else _scan_period_window(rules, period)
    if period is not None and det.point_method == "novelty" and rules.window_from_period:
        # structured series (novelty compares windows) that repeat: compare whole cycles
        warnings.warn(
            f"the training series are structured (point score novelty) and repeat every "
            f"{period} grid points, more than the window of {config.preprocess.window}: "
            f"trained again with windows of one period (preprocess.window_from_period; "
            f"--window N keeps a window)", FitNote, stacklevel=2)
        longer = _with_window(config, period)
    elif period is not None and scan_window is not None and det.point_method == "scan" \
            and rules.window_from_period_scan and scan_window > config.preprocess.window:
        # the scan on whole cycles; not decided again at the period (a rotating star's
        # residuals there looked structured and novelty lost its flares: session 35)
        cycles = rules.scan_period_cycles
        periods = "one period" if cycles == 1 else f"{cycles} periods"
        if scan_window < cycles * period:  # capped: `preprocess.scan_period_max`
            what = (f"{scan_window} points ({periods} would be {cycles * period}: "
                    "preprocess.scan_period_max)")
        else:
            what = periods if cycles == 1 else f"{periods} ({cycles * period} points)"
        epochs = rules.scan_period_epoch_factor * config.train.epochs
        longer_training = "" if epochs == config.train.epochs else \
            f", up to {epochs} epochs (preprocess.scan_period_epoch_factor)"
        warnings.warn(
            f"the training series repeat every {period} grid points, more than the window of "
            f"{config.preprocess.window}: trained again with windows of {what}, keeping the "
            f"residual scan (preprocess.window_from_period_scan; =false keeps the "
            f"window){longer_training}", FitNote, stacklevel=2)
        longer = _with_window(config, scan_window).with_sections(
            {"scoring": {"point": "scan"}, "train": {"epochs": epochs}})
    if longer is not None:
        for cb in callbacks:  # a checkpoint starts over with the new network and config
            if hasattr(cb, "on_refit"):
                cb.on_refit(longer, period)
        det, metrics = fit_detector(curves, longer, callbacks=callbacks, splits=splits,
                                    verbose=verbose)
        metrics["window_period"] = float(longer.preprocess.window)
        if period is not None:  # always, where a longer window was chosen
            metrics["training_period"] = float(period)
    elif period is not None and det.point_method == "scan":
        # kept (the scan serves short events on periodic stars: session 35); said, with the
        # one flag that compares whole cycles
        w = config.preprocess.window
        warnings.warn(
            f"the training series repeat every {period} grid points, more than the window of "
            f"{w}: the residual scan (chosen: the held-out residuals are white) judges "
            f"{w}-point stretches, so a distorted cycle whose stretches each look normal (a "
            f"discord) can rank low; --window {period} compares whole cycles (for short "
            f"events such as flares and dips keep the window)", FitNote, stacklevel=2)
        metrics["training_period"] = float(period)
    elif period is not None and det.point_method == "novelty":
        # a window given: novelty compares windows of it; said, with the key that compares
        # whole cycles (the UCR archive's discords gain from it: session 35)
        w = config.preprocess.window
        warnings.warn(
            f"the training series are structured (point score novelty) and repeat every "
            f"{period} grid points, more than the window of {w} given: novelty compares "
            f"{w}-point windows; --set preprocess.window_from_period=true trains on windows "
            f"of one period, so that whole cycles are compared", FitNote, stacklevel=2)
        metrics["training_period"] = float(period)
    if longer is None and skipped and config.preprocess.mode == "sliding":
        warnings.warn(left_out(det, splits.train, skipped), FitWarning, stacklevel=2)
    # said against the config asked for (a period retrain's own config sets the scan)
    det.info.update(point_score_reason=point_score_reason(
        det, metrics, config.scoring.point, config.preprocess.window))
    return det, metrics


def left_out(det: Detector, train: Sequence[LightCurve], skipped: Sequence[str]) -> str:
    """What to say of training series that gave no window (they are not in the model, and
    their scores will be empty): the sampling coarser than the grid allows (a folder of NAB
    files at 5 minutes and an hour), else too short or too sparse."""
    pcfg, cadence = det.config.preprocess, det.preprocessor.cadence
    by_id = {c.object_id: c for c in train}
    coarse = {}
    for oid in skipped:
        c = by_id.get(oid)
        t = c.time[c.mask] if c is not None else np.zeros(0)
        step = float(np.median(np.diff(t))) if t.size > 1 else 0.0
        if step > pcfg.max_gap * cadence:
            coarse[oid] = step
    names = ", ".join(list(skipped)[:5]) + (", ..." if len(skipped) > 5 else "")
    head = (f"{len(skipped)} of {len(train)} training series gave no window of "
            f"{pcfg.window} grid points at cadence {cadence:g} ({names}): they are not in "
            "the model and score empty")
    if coarse:
        fastest, slowest = min(coarse.values()), max(coarse.values())
        every = f"{fastest:g}" if fastest == slowest else f"{fastest:g} to {slowest:g}"
        which = "it is" if len(coarse) == 1 else f"{len(coarse)} are"
        return (f"{head}; {which} sampled every {every}, more than {pcfg.max_gap:g} grid "
                "steps (gaps that long are masked): train them in a model of their own, or "
                f"--set preprocess.cadence={slowest:g} for all")
    return (f"{head}: too short or too sparse for the window (fewer than "
            f"{pcfg.min_valid_fraction:.0%} of a window's grid points observed)")


def diverged_at(history: dict[str, list[float]], initial_epoch: int = 0) -> int | None:
    """The first epoch whose training or validation loss is not finite (`StopOnNonFinite`
    stopped it; early stopping keeps the best weights), or None."""
    bad = [i for key in ("loss", "val_loss") for i, v in enumerate(history.get(key, []))
           if not np.isfinite(v)]
    return initial_epoch + min(bad) if bad else None


class StopOnNonFinite(keras.callbacks.Callback):
    """Keras' `TerminateOnNaN` without its print, and for the validation loss too: training
    stops at the first batch, or the end of the first epoch, whose loss is not finite (early
    stopping then restores the best epoch's weights)."""

    def _check(self, logs: dict[str, Any] | None, key: str) -> None:
        loss = (logs or {}).get(key)
        if loss is not None and not np.isfinite(float(loss)):
            self.model.stop_training = True

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._check(logs, "loss")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._check(logs, "val_loss")


def _view_networks(det: Detector, splits: Splits, cal_curves: Sequence[LightCurve],
                   reference: Sequence[LightCurve], verbose: int
                   ) -> tuple[dict[str, float], dict[str, Any]]:
    """With `scoring.coarse_networks`, when calibration chose novelty and kept coarser views:
    one autoencoder per view (models/multiscale.py), trained on the training split, then
    novelty calibrated again with their codes and errors. Returns their metrics and what
    each learned."""
    views = det.novelty_views[1:]
    if not (det.config.scoring.coarse_networks and views):
        return {}, {}
    tcfg = det.config.train

    def stop() -> keras.callbacks.Callback:
        return RelativeEarlyStopping(monitor="val_loss", mode="min", patience=tcfg.patience,
                                     min_delta=tcfg.min_delta, restore_best_weights=True)

    t0 = time.perf_counter()
    metrics, learned = fit_view_networks(det, splits.train, splits.validation, views,
                                                stop, verbose)
    if det.coarse:
        det.calibrate(cal_curves, reference)
        metrics["coarse_train_seconds"] = time.perf_counter() - t0
    return metrics, learned


def _metrics(det: Detector, val_curves: Sequence[LightCurve], history: dict[str, Any],
             seconds: float, windows_seen: int) -> dict[str, float]:
    cal = det.calibration
    if cal is None:  # calibrate() always sets it; this keeps the types honest
        raise RuntimeError("detector was not calibrated")
    out: dict[str, float] = {
        "threshold": cal.point_threshold,
        "window_threshold": cal.window_threshold,
        "train_seconds": seconds,
        "windows_per_second": windows_seen / max(seconds, 1e-9),
        "epochs_run": float(len(history.get("loss", []))),
    }
    if cal.residual_lag1 is not None:
        out["residual_lag1"] = cal.residual_lag1
    if cal.repeat_fraction is not None:
        out["repeat_fraction"] = cal.repeat_fraction
    red = getattr(det.point_scorer, "red", None)  # the scan's (`ScanScorer.red`)
    if red is not None:
        out["residual_red"] = red
        out["scan_baseline"] = float(getattr(det.point_scorer, "baseline", 0))
    # the scan's `ScatterCurve`s: the residuals' scatter at the steepest (deepest) bin
    for key, curve in getattr(det.point_scorer, "scatter", {}).items():
        out[f"residual_{key}_gain"] = curve.gain
    if history.get("val_loss"):
        out["best_val_loss"] = float(np.nanmin(history["val_loss"]))
    usable = [c for c in val_curves if c.mask.any()]
    result = det.score(usable, on_error="skip") if usable else None
    if result is not None and len(result):
        errs = np.concatenate([c.window_error for c in result])
        errs = errs[np.isfinite(errs)]
        pts = np.concatenate([c.point_score for c in result])
        pts = pts[np.isfinite(pts)]
        if errs.size:
            for q in (50, 90, 99):
                out[f"val_error_p{q}"] = float(np.percentile(errs, q))
        if pts.size:
            # false alarms on held-out validation data at the calibrated threshold
            out["val_false_alarm_rate"] = float(np.mean(pts > cal.point_threshold))
    return {k: float(v) for k, v in out.items() if np.isfinite(v)}


def warm_start(parent: Detector, freeze_encoder: bool = True) -> keras.Model:
    """A new training network with `parent`'s weights (transfer learning, `lcad finetune`):
    the encoder frozen (only the decoder learns the new data), or trainable too."""
    net = build_autoencoder(parent.input_dim, parent.config.model, seed=parent.config.train.seed,
                            window=parent.config.sliding_window())
    net.set_weights(parent.model.get_weights())
    net.get_layer("encoder").trainable = not freeze_encoder
    return net


FINETUNE_KEYS = ("train.", "scoring.")


def finetune_config(parent: Detector, *, encoder: str = "tuned", lr_scale: float = 0.1,
                    epochs: int | None = None, overrides: Sequence[str] = ()
                    ) -> DetectorConfig:
    """The configuration a fine-tuned model trains and calibrates with (`lcad finetune`).

    The parent's, with the learning rate x `lr_scale` when the encoder is tuned, and the
    parent's *chosen* point score where the parent chose it ("auto"): which score suits a
    kind of series (the residual scan for white residuals, novelty for structured ones) was
    decided on the parent's held-out data; a few days of a new series are too little to
    decide it again (bench.transfer: a tenth of a quiet Kepler star looked structured,
    lag-1 0.10, and novelty over its 2,600 points fell to PR-AUC 0.14 from the scan's 0.44).
    `--set scoring.point=auto` decides again on the new data. Only train.* and scoring.*
    keys can change: the network and its preprocessing are the parent's."""
    check_finetune_args(encoder, lr_scale, overrides)
    tcfg = parent.config.train
    train: dict[str, Any] = {"learning_rate": tcfg.learning_rate
                             * (lr_scale if encoder == "tuned" else 1.0)}
    if epochs:
        train["epochs"] = epochs
    sections: dict[str, dict[str, Any]] = {"train": train}
    if parent.config.scoring.point == "auto" and parent.calibration is not None:
        sections["scoring"] = {"point": parent.point_method}
    cfg = parent.config.with_sections(sections)
    return cfg.with_overrides(overrides) if overrides else cfg


def check_finetune_args(encoder: str, lr_scale: float, overrides: Sequence[str]) -> None:
    """What `finetune_config` refuses, checked before the data is read and the parent loaded."""
    shape = [o for o in overrides if not o.startswith(FINETUNE_KEYS)]
    if shape:
        raise ConfigError(f"--set {shape[0]}: fine-tuning keeps the parent's preprocessing "
                          "and network; only train.* and scoring.* keys can change")
    if encoder not in ("tuned", "frozen"):
        raise ConfigError(f"encoder must be 'tuned' or 'frozen' (got {encoder!r})")
    if not lr_scale > 0:
        raise ConfigError(f"--lr-scale must be above 0 (got {lr_scale:g})")
