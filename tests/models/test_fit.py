"""Fitting: the split rule, the windows training sees, and errors raised before training."""

import warnings

import keras
import numpy as np
import pytest

from lcad.models.config import DetectorConfig
from lcad.models.detector import Detector
from lcad.models.errors import FitNote, FitWarning, LcadError, LightCurveError
from lcad.models.fit import MIN_OBJECTS_FOR_OBJECT_SPLIT, fit_detector, split_curves
from lcad.models.lightcurve import LightCurve


def curve(name, n=100, step=1.0):
    t = np.arange(n) * step
    return LightCurve.from_arrays(name, t, np.sin(t), emit_warnings=False)


def test_few_series_split_by_time_in_order():
    cfg = DetectorConfig.from_dict({"train": {"validation_fraction": 0.2,
                                              "calibration_fraction": 0.1}})
    s = split_curves([curve("a"), curve("b")], cfg)
    assert s.by == "time" and len(s.train) == len(s.validation) == len(s.calibration) == 2
    a_train, a_val, a_cal = s.train[0], s.validation[0], s.calibration[0]
    # 70 % / 20 % / 10 % of the time range, in that order
    assert a_train.time.max() < a_val.time.min() <= a_val.time.max() < a_cal.time.min()
    assert len(a_train) == pytest.approx(70, abs=1) and len(a_cal) == pytest.approx(10, abs=1)


def test_many_objects_split_by_object_without_overlap():
    cfg = DetectorConfig.from_dict({"train": {"validation_fraction": 0.2,
                                              "calibration_fraction": 0.2, "seed": 5}})
    curves = [curve(f"o{i}") for i in range(MIN_OBJECTS_FOR_OBJECT_SPLIT + 10)]
    s = split_curves(curves, cfg)
    ids = [{c.object_id for c in part} for part in (s.train, s.validation, s.calibration)]
    assert s.by == "object" and [len(i) for i in ids] == [12, 4, 4]
    assert set.union(*ids) == {c.object_id for c in curves}
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    again = split_curves(curves, cfg)  # the seed fixes the split
    assert [c.object_id for c in again.calibration] == [c.object_id for c in s.calibration]


def test_nothing_to_train_on_is_named():
    with pytest.raises(LightCurveError, match="no light curves to train on"):
        split_curves([], DetectorConfig())


def test_too_short_for_the_window_fails_before_training():
    cfg = {"preprocess": {"window": 64, "mode": "sliding"}, "train": {"epochs": 50}}
    with pytest.raises(LightCurveError, match="too short or too sparse for window 64"):
        Detector.fit([curve("a", n=40), curve("b", n=50)], cfg)
    cfg["preprocess"]["mode"] = "auto"  # training parts of 12-14 points: no window of 16
    with pytest.raises(LightCurveError, match="too short or too sparse for window 64"):
        Detector.fit([curve("a", n=18), curve("b", n=20)], cfg)


def test_a_training_part_too_short_for_the_window_trains_a_shorter_one_in_auto_mode():
    """A series' first 70 % (here 35 of 50 points, split by time) has no window of 64: mode
    "auto" halves the window until one fits, says so, and records it."""
    cfg = {"preprocess": {"window": 64}, "train": {"epochs": 2}}
    with pytest.warns(FitWarning, match=r"no training series gives a window of 64 grid "
                      r"points .* trained with window 32 instead"):
        det = Detector.fit([curve("a", n=50), curve("b", n=60)], cfg)
    assert det.config.preprocess.window == 32 and det.config.preprocess.mode == "sliding"
    scores = det.score([curve("c", n=80)])[0]
    assert np.isfinite(scores.point_score).all() and np.isfinite(scores.score)


def test_calibration_part_too_short_falls_back_with_a_warning():
    # 150 points: the last 15% (22) is shorter than a 32-point window, the last 30% (45) not
    cfg = {"preprocess": {"window": 32}, "train": {"epochs": 2}}
    with pytest.warns(FitWarning, match=r"last 15% of each series has no usable window of 32"
                      r".*calibrated on the held-out 30%"):
        det = Detector.fit([curve("a", n=150)], cfg)
    assert det.metrics["calibration_in_sample"] == 0.0
    assert np.isfinite(det.score([curve("b", n=150)]).curves[0].score)
    # 60 points: no held-out part holds a window; calibrated in-sample, and said so
    with pytest.warns(FitWarning, match="calibrated on the training data itself"):
        det = Detector.fit([curve("a", n=60)], {"preprocess": {"window": 24},
                                                "train": {"epochs": 2}})
    assert det.metrics["calibration_in_sample"] == 1.0


def survey_curve(name, rng, n_seasons=8, per_season=8):
    """A survey-like curve: a few epochs per season, seasons a year apart, two bands."""
    t = np.sort(np.concatenate([365.0 * s + rng.uniform(0, 120, per_season)
                                for s in range(n_seasons)]))
    t = np.repeat(t, 2)
    band = np.tile(["g", "r"], t.size // 2)
    flux = 10 + np.sin(2 * np.pi * t / 0.55) + rng.normal(0, 0.05, t.size)
    return LightCurve.from_arrays(name, t, flux, np.full(t.size, 0.05), band,
                                  emit_warnings=False)


def test_auto_mode_slides_on_dense_series_and_takes_whole_sparse_curves():
    from lcad.models.fit import grid_coverage, resolve_mode

    dense = [curve("a", n=500, step=0.02), curve("b", n=500, step=0.02)]
    cfg, coverage = resolve_mode(DetectorConfig(), dense)
    assert cfg.preprocess.mode == "sliding" and cfg.preprocess.window == 64
    assert coverage == pytest.approx(1.0)
    rng = np.random.default_rng(2)
    sparse = [survey_curve(f"s{i}", rng) for i in range(12)]
    cfg, coverage = resolve_mode(DetectorConfig(), sparse)
    assert coverage < 0.5 and cfg.preprocess.mode == "whole"
    assert cfg.preprocess.window in (8, 16, 32)
    assert grid_coverage(sparse, 1.0) < 0.5
    forced = DetectorConfig.from_dict({"preprocess": {"mode": "sliding"}})
    assert resolve_mode(forced, sparse) == (forced, None)  # a given mode stands
    # a few series split by time (their continuation is scored) slide, however irregular
    # (NAB's event-timed rogue_agent_key_hold fills 24% of its grid)
    cfg, coverage = resolve_mode(DetectorConfig(), sparse[:2], "time")
    assert coverage < 0.5 and cfg.preprocess.mode == "sliding"
    # many objects that fill their grid but span fewer than 4 windows of it (50 survey
    # epochs fill a 14-day grid): each is one object, whole
    short = [curve(f"c{i}", n=100, step=14.0) for i in range(12)]
    cfg, coverage = resolve_mode(DetectorConfig(), short)
    assert coverage == pytest.approx(1.0) and cfg.preprocess.mode == "whole"
    assert resolve_mode(DetectorConfig(), short, "time")[0].preprocess.mode == "sliding"


def test_relative_min_delta_stops_a_flat_loss_and_lets_a_falling_one_run():
    from lcad.models.fit import RelativeEarlyStopping

    def run(losses, min_delta):
        stop = RelativeEarlyStopping(monitor="val_loss", mode="min", patience=3,
                                     min_delta=min_delta)
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        stop.set_model(model)
        stop.on_train_begin()
        for epoch, loss in enumerate(losses):
            stop.on_epoch_end(epoch, {"val_loss": loss})
            if getattr(model, "stop_training", False):
                return epoch + 1
        return len(losses)

    flat = [1.0, 0.9, *(0.9 - 1e-5 * k for k in range(1, 28))]  # flat from epoch 2
    assert run(flat, 1e-3) == 5  # best at epoch 2, three epochs without 0.1 % gain
    assert run(flat, 0.0) == len(flat)  # Keras' own rule: every tiny gain counts
    small = [0.01 * 0.99 ** k for k in range(30)]  # 1 % a step on a loss near 0.01
    assert run(small, 1e-3) == 30  # relative: the scale of the loss does not matter


def test_a_flat_loss_stops_training_early():
    rng = np.random.default_rng(0)
    t = np.arange(4000.0)
    noise = LightCurve.from_arrays("n", t, rng.normal(0, 1, t.size), emit_warnings=False)
    cfg = DetectorConfig.from_dict({"preprocess": {"window": 32},
                                    "train": {"epochs": 40, "patience": 3, "seed": 0}})
    _, metrics = fit_detector([noise], cfg)
    assert metrics["epochs_run"] < 20, metrics["epochs_run"]


class _Poison(keras.callbacks.Callback):
    """Makes every weight NaN at the start of one epoch: a training that diverges there."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            self.model.set_weights([np.full(w.shape, np.nan, w.dtype)
                                    for w in self.model.get_weights()])


def test_a_training_that_diverges_stops_keeps_its_best_epoch_and_saves(tmp_path):
    curves = [curve(f"s{i}", n=300) for i in range(3)]
    cfg = DetectorConfig.from_dict({"preprocess": {"window": 32}, "train": {"epochs": 6}})
    with pytest.warns(FitWarning, match=r"training diverged at epoch 3 \(the loss was not "
                      r"finite\) and stopped; the weights of the epoch with the best"):
        det, metrics = fit_detector(curves, cfg, callbacks=[_Poison(2)])
    assert metrics["epochs_run"] == 3  # stopped in the epoch that went wrong
    assert all(np.isfinite(w).all() for w in det.model.get_weights())
    assert np.isfinite(det.score([curves[0]])[0].point_score).all()
    # the bundle is strict JSON: an epoch whose loss was not a number is stored as null
    det.info.update(history=[{"epoch": 0, "loss": 1.5}, {"epoch": 2, "loss": float("nan")}])
    again = Detector.load(det.save(tmp_path / "bundle"))
    assert again.info.history[1]["loss"] is None


def test_a_training_that_diverges_in_its_first_epoch_names_the_learning_rate():
    cfg = DetectorConfig.from_dict({"preprocess": {"window": 32}, "train": {"epochs": 3}})
    with pytest.raises(LcadError, match=r"training diverged in its first epoch .* no epoch "
                       r"reached a finite validation loss: lower train.learning_rate \(now "
                       r"0.001, e.g. --set train.learning_rate"):
        fit_detector([curve("a", n=300)], cfg, callbacks=[_Poison(0)])


def test_the_period_of_a_series_is_its_fundamental_and_noise_has_none():
    from lcad.models.fit import grid_period

    rng = np.random.default_rng(3)
    t = np.arange(6000.0)
    ecg = np.exp(-(((t % 150) - 60) / 3) ** 2) + 0.2 * np.exp(-(((t % 150) - 30) / 6) ** 2)
    mask = np.ones(t.size, bool)
    noisy = ecg + rng.normal(0, 0.02, t.size)
    assert grid_period(noisy, mask) == pytest.approx(150, abs=1)  # not 300, 450, ...
    gaps = mask.copy()
    gaps[1000:1400] = gaps[3000:3100] = False  # masked stretches leave the period
    assert grid_period(np.where(gaps, noisy, 0.0), gaps) == pytest.approx(150, abs=1)
    assert grid_period(rng.normal(size=t.size), mask) is None  # white noise
    assert grid_period(np.cumsum(rng.normal(size=t.size)), mask) is None  # a random walk
    assert grid_period(noisy[:1000], mask[:1000]) is None  # under 8 cycles


def test_the_period_rule_finds_a_period_longer_than_the_window_unless_one_is_given():
    from lcad.models.fit import period_window
    from lcad.models.preprocess import Preprocessor

    rng = np.random.default_rng(4)
    t = np.arange(4000.0)
    c = LightCurve.from_arrays("p", t, np.sin(2 * np.pi * t / 120) + rng.normal(0, 0.1, t.size),
                               emit_warnings=False)
    cfg = DetectorConfig()
    pre = Preprocessor.fit([c], cfg.preprocess)
    assert period_window(cfg, pre, [c]) == pytest.approx(120, abs=1)
    given = cfg.with_overrides(["preprocess.window=64"])  # novelty keeps it; the scan may not
    assert not given.preprocess.window_from_period and given.preprocess.window_from_period_scan
    assert period_window(given, pre, [c]) == pytest.approx(120, abs=1)
    assert period_window(given.with_overrides(["preprocess.window_from_period_scan=false"]),
                         pre, [c]) is None
    short = LightCurve.from_arrays("s", t, np.sin(2 * np.pi * t / 40), emit_warnings=False)
    assert period_window(cfg, pre, [short]) is None  # 40 < 64: the window stays 64
    assert not DetectorConfig.from_yaml("preprocess: {window: 64}").preprocess.window_from_period


def test_a_structured_series_that_repeats_is_trained_again_with_windows_of_one_period():
    """An ECG-like series (a cycle of ~137 points, window 64): novelty at the default window,
    so the detector is trained again on windows of one period, says so, and records it;
    the window is decided in the bundle (a fine-tune keeps it)."""
    from bench.quality import discord_cases
    case = discord_cases()[0]
    with pytest.warns(FitNote, match="repeat every 1[2-5][0-9] grid points, more than the "
                                     "window of 64: trained again with windows of one period"):
        det, metrics = fit_detector([case.train], DetectorConfig())
    assert det.point_method == "novelty" and 120 <= det.window == metrics["window_period"] < 160
    assert not det.config.preprocess.window_from_period
    # a window given: no second training, and the run says how to compare whole cycles
    with pytest.warns(FitNote, match=r"repeat every 1[2-5][0-9] grid points, more than the "
                                     r"window of 64 given: novelty compares 64-point windows; "
                                     r"--set preprocess.window_from_period=true"):
        det64, metrics64 = fit_detector([case.train], DetectorConfig().with_overrides(
            ["preprocess.window=64", "train.epochs=2"]))
    assert det64.point_method == "novelty" and det64.window == 64
    assert "window_period" not in metrics64 and 120 <= metrics64["training_period"] < 160


def test_a_periodic_series_on_the_scan_is_trained_again_on_windows_of_two_periods():
    """A smooth cycle of 200 points with noise: 64-point stretches reconstruct to the noise,
    so `auto` chooses the scan; the detector is trained again on windows of two periods
    (`preprocess.scan_period_cycles`), keeping the scan (not deciding again: the
    rotating-star guard), and says so. With `preprocess.window_from_period_scan` off it
    keeps window 64 and says what that costs."""
    rng = np.random.default_rng(8)
    t = np.arange(5000.0)
    c = LightCurve.from_arrays("p", t, np.sin(2 * np.pi * t / 200)
                               + 0.3 * np.sin(4 * np.pi * t / 200) + rng.normal(0, 0.05, t.size),
                               emit_warnings=False)
    with pytest.warns(FitNote, match=r"repeat every (19[5-9]|20[0-5]) grid points, more than the "
                                     r"window of 64: trained again with windows of 2 periods "
                                     r"\((39\d|40\d) points\), keeping the residual scan"):
        det, metrics = fit_detector([c], DetectorConfig())
    assert det.point_method == "scan" and det.window == metrics["window_period"]
    assert 195 <= metrics["training_period"] <= 205
    assert det.window == 2 * metrics["training_period"]
    assert det.config.scoring.point == "scan" and not det.config.preprocess.window_from_period
    # that network trains up to 3 x train.epochs (the deciding one: train.epochs)
    assert DetectorConfig().preprocess.scan_period_epoch_factor == 3
    assert det.config.train.epochs == 3 * DetectorConfig().train.epochs == 90
    with pytest.warns(FitNote, match=r"repeat every (19[5-9]|20[0-5]) grid points, more than the "
                                     r"window of 64: the residual scan .* --window (19|20)\d"):
        det64, metrics64 = fit_detector([c], DetectorConfig().with_overrides(
            ["preprocess.window_from_period_scan=false"]))
    assert det64.point_method == "scan" and det64.window == 64
    assert 195 <= metrics64["training_period"] <= 205 and "window_period" not in metrics64
    # a window given (the held-out runs of issue 17 give one): the scan still takes the
    # period as the network's context (here one period), and `=false` keeps the window
    # given, saying nothing
    with pytest.warns(FitNote, match=r"more than the window of 48: trained again with windows "
                                     r"of one period, keeping the residual scan"):
        det48, metrics48 = fit_detector([c], DetectorConfig().with_overrides(
            ["preprocess.window=48", "preprocess.scan_period_cycles=1",
             "preprocess.scan_period_epoch_factor=1"]))
    assert metrics48["epochs_run"] <= 30 and det48.config.train.epochs == 30
    assert det48.point_method == "scan" and 195 <= det48.window == metrics48["window_period"]
    assert det48.window <= 205
    assert not det48.config.preprocess.window_from_period_scan  # decided: a fine-tune keeps it
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitNote)
        kept, _ = fit_detector([c], DetectorConfig().with_overrides(
            ["preprocess.window=48", "preprocess.window_from_period_scan=false"]))
    assert kept.point_method == "scan" and kept.window == 48


def test_series_an_order_of_magnitude_apart_are_each_normalised_on_their_own_scale():
    """NAB's taxi counts (thousands) beside a CPU percentage: pooled by one mean and standard
    deviation the CPU series is flat to the network; `auto` takes each on its own scale
    (robust) and says so. Series that share a scale keep the pooled one, and a
    normalisation given is kept."""
    rng = np.random.default_rng(3)
    t = np.arange(3000.0)
    day = np.sin(2 * np.pi * t / 48)
    cpu = LightCurve.from_arrays("cpu", t, 40 + 5 * day + rng.normal(0, 1, t.size),
                                 emit_warnings=False)
    taxi = LightCurve.from_arrays("taxi", t, 15000 + 6000 * day + rng.normal(0, 900, t.size),
                                  emit_warnings=False)
    small = ["preprocess.window=32", "train.epochs=15"]
    with pytest.warns(FitNote, match=r"2 training series are on different scales: .cpu. "
                                     r"varies by [\d.]+ .*pooled by [\d.e+]+; each series is "
                                     r"normalised"):
        det, _ = fit_detector([cpu, taxi], DetectorConfig().with_overrides(small))
    assert det.config.preprocess.normalization == "robust"
    with warnings.catch_warnings():
        warnings.filterwarnings("error", ".*training series are on different scales",
                                FitNote)  # neither says it
        same, _ = fit_detector([cpu, LightCurve.from_arrays(
            "cpu2", t, 42 + 4 * day + rng.normal(0, 1, t.size), emit_warnings=False)],
            DetectorConfig().with_overrides(small))
        given, _ = fit_detector([cpu, taxi], DetectorConfig().with_overrides(
            [*small, "preprocess.normalization=global"]))
    assert same.config.preprocess.normalization == "global"
    assert given.config.preprocess.normalization == "global"
    # on its own scale the CPU series' cycle is reconstructed; pooled it is not
    def cpu_r2(d):
        rec = d.reconstruct([cpu])[0]
        ok = np.isfinite(rec.reconstruction)
        resid = cpu.flux[ok] - rec.reconstruction[ok]
        return 1 - resid.var() / cpu.flux[ok].var()
    assert cpu_r2(det) > 0.5 > cpu_r2(given)


def test_training_series_sampled_coarser_than_the_grid_are_named():
    """A folder of NAB files at 5 minutes and an hour: the grid takes the common step, and an
    hourly series has no window observed enough; training says which series are left out of
    the model, why, and the cadence that keeps them."""
    rng = np.random.default_rng(4)
    fine_t, coarse_t = np.arange(3000.0), np.arange(0.0, 3000.0, 12.0)
    fine = LightCurve.from_arrays("five_minutes", fine_t, np.sin(fine_t / 40)
                                  + rng.normal(0, 0.1, fine_t.size), emit_warnings=False)
    coarse = LightCurve.from_arrays("hourly", coarse_t, np.sin(coarse_t / 40)
                                    + rng.normal(0, 0.1, coarse_t.size), emit_warnings=False)
    small = ["preprocess.window=32", "train.epochs=2", "model.hidden=[16]", "model.latent=2"]
    with pytest.warns(FitWarning, match=r"1 of 2 training series gave no window of 32 grid "
                                        r"points at cadence 1 \(hourly\): they are not in the "
                                        r"model and score empty; it is sampled every 12, "
                                        r"more than 3 grid steps .* --set "
                                        r"preprocess.cadence=12 for all"):
        det, metrics = fit_detector([fine, coarse], DetectorConfig().with_overrides(small))
    assert metrics["n_skipped_train_curves"] == 1
    hourly = det.score([coarse], on_error="skip")  # as said: no score
    assert not len(hourly) or np.isnan(hourly[0].score)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitWarning)
        warnings.simplefilter("ignore", FitNote)  # notes (the period here) are not warnings
        at12, _ = fit_detector([fine, coarse], DetectorConfig().with_overrides(
            [*small, "preprocess.cadence=12", "preprocess.window=16"]))
    assert at12.score([coarse])[0].point_score.size == coarse.time.size
