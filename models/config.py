"""Every choice of a detector, as one pydantic model that loads from YAML or dotted overrides."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lcad.models.errors import ConfigError
from lcad.models.segments import LEVEL_MOVE

NoveltyPart = Literal["input", "latent", "error"]

Activation = Literal["relu", "leaky_relu", "elu", "selu", "gelu", "tanh", "sigmoid"]
Normalization = Literal["auto", "robust", "global", "window", "minmax"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class PreprocessConfig(_Section):
    """How raw light curves become model windows."""

    @model_validator(mode="before")
    @classmethod
    def _given_window_stays(cls, data: Any) -> Any:
        """A window given (a config file's, an old bundle's) is kept: the period rule only
        replaces the default."""
        if isinstance(data, Mapping) and "window" in data and "window_from_period" not in data:
            return {**data, "window_from_period": False}
        return data

    window: int = Field(64, ge=4, le=4096, description="grid points per window (per band)")
    window_from_period: bool = Field(
        True, description="sliding windows in mode auto: where the detector trained at "
        "`window` chose novelty (structured series) and the training series repeat with a "
        "longer period (their autocorrelation; 8 cycles or more), it is trained again on "
        "windows of one period, so that whole cycles are compared (session 35; the scan: "
        "window_from_period_scan). Off where `window` is given (--window, --set "
        "preprocess.window=N, a config file's window): novelty compares windows of the "
        "length asked for")
    window_from_period_scan: bool = Field(
        True, description="where the detector trained at `window` chose the residual scan "
        "and the series repeat with a longer period, it is trained again on windows of "
        "`scan_period_cycles` periods, keeping the scan (session 36: spotted rotators with "
        "long events +0.12 PR-AUC a star, discords in 300-point cycles +0.13). Kept where "
        "`window` is given "
        "(session 39): the scan scores points, and the window is only the network's context "
        "(a network that sees part of a rotation reconstructs part of a dip: rotators at "
        "window 48, PR-AUC 0.337 against 0.465); false keeps the window given")
    scan_period_epoch_factor: int = Field(
        3, ge=1, description="with window_from_period_scan: the scan's network on whole "
        "cycles trains up to this many times train.epochs (90 at the default; early stopping "
        "ends it sooner; 1: train.epochs). At 30 its loss was still falling; given up to 100 "
        "it stops at 26-74 (session 45, one model a star, 24 variable stars: +0.010 PR-AUC, "
        "-0.008..+0.047, eclipsing binaries and changes +0.015..+0.022). Only this network: "
        "the one that decides the point score keeps train.epochs, since a longer-trained one "
        "leaves the discords' residuals white at the window and `auto` then takes the scan "
        "(located 3 of 6 instead of 6). A multiple, so that a short training asked for "
        "(--epochs 2) stays short")
    scan_period_cycles: int = Field(
        2, ge=1, le=8, description="with window_from_period_scan: the windows the scan's "
        "network is trained again on hold this many periods, so that it sees the cycle "
        "repeat and an event in one cycle disagrees with the other (session 39, one model a "
        "star: rotators +0.034 / +0.005 / +0.028 PR-AUC against one period, 3 periods "
        "+0.008 / -0.041 / +0.020; discords in 300-point cycles -0.018, 5 of 6 located either "
        "way)")
    scan_period_max: int = Field(
        512, ge=16, description="with window_from_period_scan: the longest window the "
        "scan's network is trained again on (`scan_period_cycles` periods, or this many grid "
        "points where those are longer). A dense network on windows of 700-1900 points fell "
        "short of its noise ceiling and left structure in its residuals; rotators of 5-20 "
        "days, 16 stars one model each: +0.061 PR-AUC, ahead on 13 (session 41); discords in "
        "300-point cycles +0.025, located 4 of 6 instead of 5. Every rotator of the other "
        "families has windows under 400 points")
    stride: int = Field(1, ge=1, description="window step when scoring, in grid points")
    mode: Literal["auto", "sliding", "whole"] = Field(
        "auto", description="sliding windows on a grid at the cadence (dense series), or "
        "each object resampled onto one window of `window` points (sparse survey curves); "
        "auto (default): sliding when a typical training curve fills half its cadence grid "
        "(min_valid_fraction), else whole with the longest window (<= window) it fills")
    cadence: float | None = Field(
        None, gt=0, description="grid step in time units; None = median spacing in training"
    )
    max_gap: float = Field(
        3.0, gt=0, description="gaps longer than this many grid steps are masked, not interpolated"
    )
    normalization: Normalization = Field(
        "auto", description="robust: each curve by its own median and MAD; global: every "
        "curve by the training data's mean and std; window: each window by its own; minmax; "
        "auto (default): global when training splits each curve by time (a few series, whose "
        "future is scored: a level the training never had is news) and the series share a "
        "scale, robust when it splits by object (many objects, each new one on its own "
        "scale) or, in sliding windows, a series varies by less than a tenth of all of them "
        "pooled (levels or spreads an order of magnitude apart: `fit.scales_apart`)")
    bands: list[str] | None = Field(None, description="bands in order; None = those in training")
    min_valid_fraction: float = Field(
        0.5, gt=0, le=1, description="windows with fewer valid points are not scored or trained on"
    )


class ModelConfig(_Section):
    """The dense autoencoder."""

    hidden: list[int] = Field(default_factory=lambda: [128, 64])
    latent: int = Field(8, ge=1)
    activation: Activation = "relu"
    output_activation: Literal["linear", "sigmoid"] = "linear"
    dropout: float = Field(0.0, ge=0, lt=1)
    batch_norm: bool = False
    l1: float = Field(0.0, ge=0)
    l2: float = Field(0.0, ge=0)
    initializer: Literal["glorot", "he"] = "glorot"
    variant: Literal["plain", "variational", "denoising"] = Field(
        "variational", description="variational by default: the KL term switches off latent "
        "dimensions the data do not need, so noise is not reconstructed (see docs/quality-log.md)")
    noise_std: float = Field(0.1, ge=0, description="input noise of the denoising variant")
    segment_offsets: float = Field(
        0.5, ge=0, le=1, description="sliding-window mode: the share of training windows "
        "given a constant offset (0.7-2.8 times the window's noise, either sign) over a "
        "random stretch of 4 or more points, which the network must reconstruct without; "
        "it learns not to follow offsets its training data do not hold, so a plateau or "
        "a bump on a star with large slow variations stays in the residual (docs/quality-log.md, "
        "session 30); 0 turns it off")
    kl_weight: float = Field(0.1, ge=0, description="KL term weight of the variational variant")
    loss: Literal["mse", "mae", "huber", "bce", "chi2"] = Field(
        "chi2", description="chi2: squared residual over the flux error (or the estimated "
        "point-to-point noise), so the KL term weighs the same against every star's noise")


class TrainConfig(_Section):
    """The optimiser, the schedule and the splits."""

    def batch_for(self, n: int, min_batches: int | None = None) -> int:
        """The batch size for `n` training windows: `batch_size`, or smaller so that an
        epoch makes `min_batches` (default: this config's) updates, never under 16."""
        want = self.min_batches if min_batches is None else min_batches
        return int(min(self.batch_size, max(16, -(-n // want))))

    optimizer: Literal["adam", "adamw", "sgd", "rmsprop", "adadelta"] = "adam"
    learning_rate: float = Field(1e-3, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd only")
    weight_decay: float = Field(1e-4, ge=0, description="adamw only")
    schedule: Literal["constant", "exponential", "cosine"] = "constant"
    decay_rate: float = Field(0.9, gt=0, le=1, description="exponential: factor per epoch")
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(256, ge=1)
    min_batches: int = Field(
        1, ge=1, description="updates an epoch makes at least: a training set smaller than "
        "min_batches x batch_size is cut into smaller batches (never under 16 windows). One "
        "series' training part of a few hundred windows makes one update an epoch at 1; at "
        "16 the network reconstructs far more of NAB and the discords, but `auto` then picks "
        "the scan on half the discords and they are found less often (docs/quality-log.md, "
        "session 18): 1 stays the default until that rule is decided again")
    patience: int = Field(5, ge=1, description="early stopping patience, in epochs")
    min_delta: float = Field(
        1e-3, ge=0, lt=1, description="early stopping: the validation loss must fall by this "
        "share of its best value to count as an improvement (relative: losses differ in scale "
        "between variants and data)")
    stride: int = Field(4, ge=1, description="window step of the training windows")
    validation_fraction: float = Field(0.15, gt=0, lt=0.5)
    calibration_fraction: float = Field(0.15, gt=0, lt=0.5)
    max_windows: int | None = Field(200_000, ge=16, description="random subsample cap")
    seed: int = 0


class ScoringConfig(_Section):
    """How reconstruction errors become scores, thresholds and intervals."""

    error: Literal["mse", "chi2"] = Field(
        "chi2", description="residuals over the flux errors (chi2) or in normalised flux (mse)")
    point: str = Field(
        "auto",
        description="point score (models/point_scores.py; a registered scorer's name): "
        "'scan', a multi-scale scan of the residuals (-log10 p of "
        "the most surprising run of `scales` points centred on the point, or containing it "
        "with `scan_cover`); 'novelty', the "
        "distance to the training windows (input and latent space) of the windows covering "
        "the point, averaged (`novelty_spread`); 'window', the mean error of the covering "
        "windows; 'auto' "
        "(default): scan when the held-out residuals are white (|lag-1 autocorrelation| <= "
        "0.1) and the training fluxes are noisy; novelty when the residuals are not white or "
        "half the consecutive training fluxes repeat exactly (no noise to scan against)",
    )
    scales: list[int] = Field(
        default_factory=lambda: [1, 4, 16],
        description="run lengths (grid points) the scan tests for offsets and excess scatter",
    )
    scan_flanks: bool = Field(
        False, description="the scan also tests each point's two flanks, the runs of the "
        "largest scale that end and start at it, and keeps the less surprising: a point "
        "inside an event longer than twice that scale gets the evidence of both, a point "
        "beside an event at most one's (docs/quality-log.md, session 28). Off by default "
        "since session 31: with the segment row weighing whole events, the flanks added "
        "nothing on any Kepler family and cost the short-event ones")
    scan_segments: bool = Field(
        True, description="the scan also scores each point by the posterior probability "
        "that it lies in an anomalous segment (a hidden Markov model of offsets and excess "
        "scatter on the residuals, models/segments.py), so a whole event is weighed out to "
        "where the residual returns to the noise; sliding-window mode only "
        "(docs/quality-log.md, session 29)")
    segment_length: int = Field(
        16, ge=1, description="the mean length, in grid points, of an anomalous segment in "
        "the segment row's model (a prior: a longer event is followed, but a point inside "
        "it is never surer to be anomalous than leaving and re-entering the segment costs); "
        "until session 40 the largest of `scales`. 64 weighs changes that hold for hundreds "
        "of points more (kepler-regime +0.015 PR-AUC) and costs the rotators' short events "
        "0.009 (docs/quality-log.md, session 40)")
    segment_moves: float = Field(
        LEVEL_MOVE, ge=0.0, le=4.0, description="in the segment row, how often an anomalous "
        "segment moves to the next level up or down (of its offset or its scatter), in "
        "units of how often it ends: at 0.5 a segment changes level as often as it ends, "
        "so a ramp, a bump or a decay is followed as a staircase; 0: a segment keeps one "
        "level (docs/quality-log.md, session 31)")
    scan_tail_bound: bool = Field(
        True, description="each row of the scan is calibrated on the held-out residuals, "
        "and beyond the top 5 % of them its p-values follow an exponential tail; with this "
        "bound that tail falls no faster than one decade per unit of the row's own -log10 "
        "statistic, the most a p-value or a likelihood ratio can fall under its null (P(p <= "
        "a) = a; P(LR >= c) <= 1/c). A short calibration part no longer extrapolates a "
        "random excursion of white noise to p = 1e-37 (docs/quality-log.md, session 32)")
    scan_oscillations: int = Field(
        24, ge=0, description="the scan also tests the run of this many grid points centred "
        "on each point for a sinusoid of unknown phase (the largest periodogram ordinate, "
        "periods from the run's length down to just over 2 points): short oscillations and "
        "pulsations the scatter test sees only as a little excess power; 0 turns it off; "
        "sliding-window mode only (docs/quality-log.md, session 30)")
    scan_quiet: int = Field(
        24, ge=0, description="the scan also tests the run of this many grid points centred "
        "on each point for too little scatter about its own mean (the lower tail of "
        "chi-square), where white noise would give it once in 10^4 runs or less: a stretch "
        "where the noise stops (a value held, a stuck or saturated sensor, data filled in "
        "by smoothing), which sits near the reconstruction; 0 turns it off; sliding-window "
        "mode only (docs/quality-log.md, session 38)")
    scan_scatter: int = Field(
        20, ge=0, description="the scan weighs each point's residual against the scatter "
        "the held-out residuals have where the reconstruction is as steep and as deep "
        "(`scan_scatter_by`; this many quantile bins of each, the scatter made non-decreasing "
        "in it, the larger of the two scales taken): a reconstruction a little early, late or "
        "shallow errs in proportion to its slope and its depth, so an eclipse's or a "
        "pulsation's flanks and bottom no longer pass for events; where the scatter does not "
        "grow with them it changes nothing. 0 turns it off; sliding-window mode only "
        "(docs/quality-log.md, session 43)")
    scan_scatter_by: list[Literal["slope", "depth"]] = Field(
        default_factory=lambda: list[Literal["slope", "depth"]](["slope"]),
        description="the properties of the reconstruction `scan_scatter` bins by: 'slope', "
        "its step per grid point, 'depth', its distance from its median level (both in "
        "noise units). The slope alone by default: the depth helps on eclipsing binaries "
        "and costs pulsators and slow rotators (docs/quality-log.md, session 43)")
    scan_baseline: int = Field(
        64, ge=0, description="where the held-out residuals are red at this many grid points "
        "(`scan_baseline_red`), the scan's runs (`scales`, flanks, oscillations) test the "
        "residuals less their running median over as many points: what the network left of "
        "a slow signal (a rotation longer than its window) no longer shifts every short run; "
        "the segment and quiet rows keep the residuals as they are; 0 turns it off; "
        "sliding-window mode only (slow rotators +0.12 PR-AUC; docs/quality-log.md, "
        "session 42)")
    scan_baseline_red: float = Field(
        2.0, ge=0.0, description="the running median (`scan_baseline`) is subtracted when "
        "the held-out residuals' mean over that many points varies at least this many times "
        "as much as white noise's would (1 for white noise; 0: always)")

    novelty_scales: list[int] = Field(
        default_factory=lambda: [4],
        description="coarser views novelty also compares: the grid averaged over this many "
        "points, cut into windows of the same length (at 4, a 64-point window spans 256 grid "
        "points: a day of 5-minute data); a point gets its largest novelty over the views. "
        "[] = the windows themselves only. Views too long for the training curves are skipped",
    )
    novelty_span: int = Field(
        256, ge=0, description="grid points the coarsest novelty view spans at least: where "
        "`window` x the largest of `novelty_scales` falls short (a window given below 64), a "
        "view averaged over ceil(span / window) points is compared too (not where "
        "`novelty_scales` is []), so that novelty keeps "
        "the context it was decided with (4 x 64; NAB at --window 32: PR-AUC 0.473 without "
        "it, 0.647 with a view of 256 points; docs/quality-log.md, session 39). 0: the "
        "`novelty_scales` alone")
    novelty_parts: list[NoveltyPart] = Field(
        default_factory=lambda: list[NoveltyPart](["input", "latent"]),
        description="what a window's novelty adds up, each in units of its typical training "
        "value: 'input', the distance to the nearest training window; 'latent', the distance "
        "of its latent code to the nearest training code; 'error', its reconstruction error "
        "(models/novelty.py)")
    novelty_spread: Literal["max", "mean", "min"] = Field(
        "mean", description="how a window's novelty becomes its points': the mean (default), "
        "largest or smallest over the windows covering a point (max spreads an event's "
        "novelty over a window either side of it; min keeps it to the points every covering "
        "window sees). Mean was chosen left one family out of six (docs/quality-log.md, session "
        "18)")
    novelty_level_start: bool = Field(
        True, description="novelty spread by the mean: the points at the start of a scored "
        "series, which fewer windows cover (the first point one), take the value of the "
        "first point a full set of windows covers, so that where a request cuts the series "
        "does not stand out by the spread of a mean over few windows. The end keeps its own: "
        "it holds the newest data (session 35)")
    coarse_networks: bool = Field(
        False, description="train an autoencoder on each coarser novelty view "
        "(`novelty_scales`) when the point score is novelty, so that a coarser view's novelty "
        "has the same parts as the windows' own (latent codes, reconstruction error); "
        "without, a coarser view is compared in input space only (models/multiscale.py)")
    scan_clip: float = Field(
        4.0, gt=0, description="|z| cap inside runs longer than one point, so that one outlier "
        "does not light up its neighbours (scale 1 still scores it in full)")
    scan_cover: bool = Field(
        False, description="give every point of a scanned run the run's statistic (the "
        "largest over the runs containing it), not only the run's centre: whole events "
        "score high (Kepler VUS-PR 0.40 -> 0.53) but so do the neighbours of the stars' "
        "own outliers, which raises the false-alarm threshold (event recall at 1 % 0.82 -> "
        "0.68): off by default (docs/quality-log.md, session 15)")

    @model_validator(mode="after")
    def _scales(self) -> ScoringConfig:
        from lcad.models.point_scores import POINT_SCORERS  # the registry, not at import

        if self.point != "auto" and self.point not in POINT_SCORERS:
            raise ValueError(f"scoring.point {self.point!r} is not a point score; choose "
                             f"'auto' or one of {sorted(POINT_SCORERS)}")
        if not self.scales or min(self.scales) < 1:
            raise ValueError("scoring.scales must be a non-empty list of positive integers")
        if 0 < self.scan_quiet < 4:
            raise ValueError("scoring.scan_quiet is a run length: 0 (off) or at least 4")
        if self.scan_scatter == 1:
            raise ValueError("scoring.scan_scatter is a number of bins: 0 (off) or at least 2")
        if 0 < self.scan_baseline <= max(self.scales):
            raise ValueError(f"scoring.scan_baseline is a run length: 0 (off) or longer than "
                             f"the largest scale ({max(self.scales)})")
        if 0 < self.scan_oscillations < 4:
            raise ValueError("scoring.scan_oscillations is a run length: 0 (off) or at least "
                             "4 grid points (a run of 2 or 3 holds no cycle to test)")
        if self.scan_segments and 1.0 + 2.0 * self.segment_moves > max(self.scales):
            raise ValueError(
                f"scoring.segment_moves {self.segment_moves} is too large for segments of mean "
                f"length {max(self.scales)} (the largest scale): a segment would end or move "
                f"more than once a point; use at most {(max(self.scales) - 1) / 2:g}")
        if any(k < 2 for k in self.novelty_scales) or len(set(self.novelty_scales)) < len(
                self.novelty_scales):
            raise ValueError("scoring.novelty_scales must be distinct integers >= 2 (1, the "
                             "windows themselves, is always compared)")
        if not self.novelty_parts or len(set(self.novelty_parts)) < len(self.novelty_parts):
            raise ValueError("scoring.novelty_parts must name one or more distinct parts of "
                             "'input', 'latent', 'error'")
        return self

    def view_factors(self, window: int) -> list[int]:
        """The coarser views novelty compares at `window`: `novelty_scales` ([]: none), and
        where none of them spans `novelty_span` grid points, one that does."""
        factors = list(self.novelty_scales)
        if self.novelty_span and factors and window * max(factors) < self.novelty_span:
            factors.append(-(-self.novelty_span // window))
        return factors

    object_aggregation: Literal["max", "topk"] = "max"
    top_k: int = Field(5, ge=1)
    target_far: float = Field(0.01, gt=0, lt=0.5, description="false-alarm rate of the threshold")
    merge_gap: int = Field(2, ge=0, description="flagged points this close merge into one event")
    extend_z: float = Field(
        1.0, ge=0, description="an interval (event) reaches out from its flagged points while "
        "the residual keeps the event's sign beyond this many robust sigmas, i.e. until it is "
        "back in the noise; 0 = the flagged points only")
    novelty_intervals: Literal["core", "flagged"] = Field(
        "core", description="novelty point scores (spread by the mean) flag every point a "
        "novel window covers, a window either side of a short event: 'core' narrows each "
        "flagged run to the points every covering window finds novel (above the threshold), "
        "where it has any, before the interval reaches out (`extend_z`), and the points "
        "left outside lose their flag (the scores stay); 'flagged' keeps the run. Interval "
        "precision on the synthetic stars 0.077 -> 0.330 at coverage 1.000 -> 0.938, no "
        "event lost; NAB's labels, a window around each anomaly, are covered less "
        "(`bench.intervals`; docs/quality-log.md, session 47)")
    min_calibration_objects: int = Field(
        20, ge=2, description="fewer calibration objects: object p-values from windows instead"
    )


class ObjectConfig(_Section):
    """Whole-curve mode's per-object model (models/objects.py): light-curve features, a
    dense autoencoder on them, an Isolation Forest and the distance to the K nearest training
    objects (20, or a tenth of them where that is more) over its reconstructions and errors."""

    enabled: bool = Field(
        True, description="in whole-curve mode, the object score, p-value and embedding come "
        "from this model (features + autoencoder + Isolation Forest and nearest neighbours); "
        "false: from the resampled grid's reconstruction error (at chance on survey objects, "
        "docs/quality-log.md)")
    periods: bool = Field(
        True, description="Lomb-Scargle period and power per band among the features "
        "(+0.04 ROC-AUC on the RR Lyrae tasks; most of the time per object)")
    hidden: int = Field(32, ge=2)
    latent: int = Field(8, ge=1)
    epochs: int = Field(150, ge=1)
    patience: int = Field(20, ge=1)
    learning_rate: float = Field(3e-3, gt=0)
    trees: int = Field(200, ge=10, description="Isolation Forest trees")


class DetectorConfig(_Section):
    """Everything a detector is made of; logged verbatim to MLflow and stored in the bundle."""

    preprocess: PreprocessConfig = Field(default_factory=lambda: PreprocessConfig())
    model: ModelConfig = Field(default_factory=lambda: ModelConfig())
    train: TrainConfig = Field(default_factory=lambda: TrainConfig())
    scoring: ScoringConfig = Field(default_factory=lambda: ScoringConfig())
    objects: ObjectConfig = Field(default_factory=lambda: ObjectConfig())

    @model_validator(mode="after")
    def _compatible(self) -> DetectorConfig:
        if self.model.loss == "bce" and (
            self.model.output_activation != "sigmoid" or self.preprocess.normalization != "minmax"
        ):
            raise ValueError(
                "model.loss=bce needs model.output_activation=sigmoid and "
                "preprocess.normalization=minmax"
            )
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> DetectorConfig:
        """Validate a mapping; unknown keys and bad values raise ConfigError naming them."""
        try:
            return cls.model_validate(dict(data or {}))
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None

    @classmethod
    def from_yaml(cls, text: str) -> DetectorConfig:
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError("config must be a YAML mapping of sections")
        return cls.from_dict(data)

    def resolved(self, split_by: str, shared_scale: bool = True) -> DetectorConfig:
        """The config with "auto" normalisation made concrete for a training split:
        `shared_scale` False (training series an order of magnitude apart:
        `fit.scales_apart`) takes each curve on its own scale in a time split too."""
        if self.preprocess.normalization != "auto":
            return self
        norm = "global" if split_by == "time" and shared_scale else "robust"
        return self.model_copy(update={
            "preprocess": self.preprocess.model_copy(update={"normalization": norm})})

    def sliding_window(self) -> int | None:
        """A band's points in one window in sliding-window mode (what
        `model.segment_offsets` needs); None otherwise (whole-curve mode: a survey object's
        curve is the window; "auto" before the mode is resolved)."""
        return self.preprocess.window if self.preprocess.mode == "sliding" else None

    def with_overrides(self, overrides: Iterable[str]) -> DetectorConfig:
        """Apply `section.key=value` strings (values parsed as YAML)."""
        data = self.model_dump()
        given: set[str] = set()
        for item in overrides:
            key, sep, raw = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"override {item!r} is not of the form section.key=value")
            parts = key.strip().split(".")
            node: Any = data
            for depth, part in enumerate(parts[:-1]):
                if not isinstance(node, dict) or part not in node:
                    raise ConfigError(_unknown(parts[: depth + 1], node))
                node = node[part]
            if not isinstance(node, dict) or parts[-1] not in node:
                raise ConfigError(_unknown(parts, node))
            try:
                node[parts[-1]] = yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise ConfigError(f"override {item!r}: value is not valid YAML: {exc}") from None
            given.add(key.strip())
        return DetectorConfig.from_dict(_window_given(data, given))

    def with_sections(self, sections: Mapping[str, Mapping[str, Any]]) -> DetectorConfig:
        """Update keys section by section: `{"train": {"epochs": 5}}`; unknown names raise."""
        data = self.model_dump()
        for name, values in sections.items():
            if name not in data:
                owner = next((sec for sec, keys in data.items() if name in keys), None)
                raise ConfigError(f"unknown config section {name!r}; sections are "
                                  f"{sorted(data)}" + (
                                      f" ({name!r} is a key of {owner!r}: "
                                      f"{owner}={{{name!r}: ...}})" if owner else ""))
            if not isinstance(values, Mapping):
                raise ConfigError(f"config section {name!r} must be a mapping of keys, not "
                                  f"{type(values).__name__}")
            data[name].update(values)
        given = {f"{name}.{key}" for name, values in sections.items() for key in values}
        return DetectorConfig.from_dict(_window_given(data, given))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    def flat(self) -> dict[str, Any]:
        """`section.key -> value`, the form MLflow params take."""
        out: dict[str, Any] = {}
        for section, values in self.model_dump(mode="json").items():
            for key, value in values.items():
                out[f"{section}.{key}"] = value
        return out


def _window_given(data: dict[str, Any], given: set[str]) -> dict[str, Any]:
    """A window set by an override keeps: the period rule (`window_from_period`) is off
    unless it is set too."""
    if "preprocess.window" in given and "preprocess.window_from_period" not in given:
        data["preprocess"]["window_from_period"] = False
    return data


def _unknown(parts: list[str], known: Any) -> str:
    """'unknown config key', with the closest known keys at that level."""
    import difflib

    message = f"unknown config key {'.'.join(parts)!r}"
    if isinstance(known, dict):
        close = difflib.get_close_matches(parts[-1], [str(k) for k in known], n=2)
        if close:
            prefix = ".".join(parts[:-1])
            message += "; did you mean " + " or ".join(
                repr(f"{prefix}.{c}" if prefix else c) for c in close) + "?"
    return message


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "config"
        if err["type"] == "extra_forbidden":
            parts = [str(p) for p in err["loc"]]
            known: Any = DetectorConfig().model_dump()
            for part in parts[:-1]:
                known = known.get(part) if isinstance(known, dict) else None
            problems.append(_unknown(parts, known))
        else:
            problems.append(f"{where}: {err['msg']}")
    return "; ".join(problems)
