"""`Detector`: encode / reconstruct / score light curves; save and load the bundle."""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time as _time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import keras
import numpy as np

from lcad._meta import __version__
from lcad.models.autoencoder import inference_model
from lcad.models.bundle import (
    CALIBRATION_FILE,
    CONFIG_FILE,
    MODEL_FILE,
    bundle_root,
    read_json,
    verify_files,
    write_bundle,
    write_json,
)
from lcad.models.config import DetectorConfig
from lcad.models.errors import (
    BundleError,
    ConfigError,
    FitWarning,
    LcadError,
    LightCurveError,
)
from lcad.models.frames import CurvesLike, as_curves
from lcad.models.info import DetectorInfo
from lcad.models.lightcurve import LightCurve
from lcad.models.novelty import lag1_autocorrelation, repeat_fraction
from lcad.models.objects import OBJECTS_MODEL_FILE, ObjectAssessment, ObjectModel
from lcad.models.point_scores import (
    LOOK_FOR_NAMES,
    LOOK_FOR_WORDS,
    POINT_SCORERS,
    HeldOut,
    PointScorer,
    choose_point_method,
    looked_for_reason,
    point_scorer,
)
from lcad.models.preprocess import CurveAnchor, Preprocessor, Resampled
from lcad.models.results import CurveEncoding, CurveReconstruction, CurveScore, ScoreResult
from lcad.models.scoring import (
    Calibration,
    EmpiricalDistribution,
    Interval,
    find_intervals,
    object_score,
    reconstruction_shape,
    residuals,
    spans_mask,
    window_errors,
)
from lcad.models.uncertainty import ScoreSpread, StochasticNetwork, check_samples
from lcad.models.windows import (
    Windows,
    coverage_count,
    diagonal_sums,
    make_windows,
    one_window,
    window_batches,
    window_times,
)

SCHEMA_VERSION = 1
MAX_BATCH = 4096
MIN_BUCKET = 16
STREAM_BATCH = 16384  # network batch of long curves scored in a stream (fewer, larger calls)
# a pass of the network: (n, 2*D) inputs -> latent codes, reconstructions
Network = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
FINISH_BLOCK = 2048  # whole-curve objects finished at a time (`finish_whole`)
REDUCE_BLOCK = 2048  # windows reduced at a time: their residuals stay in cache


def bucket_size(n: int) -> int:
    """Padded batch size: the next power of two (at least MIN_BUCKET, at most MAX_BATCH)."""
    size = MIN_BUCKET
    while size < n and size < MAX_BATCH:
        size *= 2
    return size


@dataclass
class Prepared:
    """A curve made ready for the network. Its network inputs (normalised values, then the
    mask, float32) are cut from the grid on demand: whole (`inputs`), or a batch at a time
    (`input_rows`), so that a long curve never needs all of them at once."""

    curve: LightCurve
    res: Resampled
    win: Windows
    offset: np.ndarray  # (n_windows, n_bands); a broadcast view unless per-window
    scale: np.ndarray
    errors: np.ndarray  # normalised errors (1 where masked): (n_bands, n_grid) on the grid,
    # or (n_windows, D) per window when every window has its own scale
    valid: np.ndarray  # (n_windows,) enough valid points to use
    xgrid: np.ndarray | None = None  # (n_bands, n_grid) model-unit values, when on the grid
    window_inputs: np.ndarray | None = None  # (n_windows, 2 D), per-window normalisation
    assessed: ObjectAssessment | None = None  # the object model's answer, once computed
    # (latent codes, window novelty from them): `PointScorer.prefetch`'s, for those codes
    window_novelty: tuple[np.ndarray, np.ndarray] | None = None
    _weights: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def errors_on_grid(self) -> bool:
        return self.xgrid is not None

    @property
    def dim(self) -> int:
        return self.win.window * self.win.n_bands

    @cached_property
    def inputs(self) -> np.ndarray:
        """(n_windows, 2 D) float32 network inputs of every window."""
        return self.input_rows(slice(None))

    def input_rows(self, rows: slice, out: np.ndarray | None = None) -> np.ndarray:
        """Network inputs of the windows in `rows`, written into `out` (rows from 0) if given."""
        if self.xgrid is None:
            if self.window_inputs is None:
                raise LcadError("a prepared curve needs grid values or window inputs")
            src = self.window_inputs[rows]
            if out is None:
                return src
            np.copyto(out[: src.shape[0]], src)
            return out[: src.shape[0]]
        n, d = self.win.starts[rows].size, self.dim
        block = np.empty((n, 2 * d), np.float32) if out is None else out[:n]
        self.win.cut(self.xgrid, out=block[:, :d], rows=rows)
        self.win.cut(self.res.mask, out=block[:, d:], rows=rows)
        return block

    @property
    def xn(self) -> np.ndarray:
        """(n_windows, D) normalised values (0 where masked): a view into `inputs`."""
        return self.inputs[:, : self.dim]

    def en_rows(self, rows: slice = slice(None)) -> np.ndarray:
        """(n, D) normalised errors of the windows in `rows` (cut from the grid on demand; a
        read-only view where it can be)."""
        return self.win.rows(self.errors, rows) if self.errors_on_grid else self.errors[rows]

    def weights(self, kind: str) -> np.ndarray:
        """(n_bands, n_grid) float32 residual weights of the grid (errors on the grid only):
        the mask, over the normalised error for chi2. Computed once per kind."""
        cached = self._weights.get(kind)
        if cached is None:
            mask = self.res.mask.astype(np.float32)
            cached = mask / self.errors if kind == "chi2" else mask
            self._weights[kind] = cached
        return cached

    def model_input(self) -> np.ndarray:
        return self.inputs

    def targets(self) -> np.ndarray:
        return np.concatenate([self.inputs, self.en_rows()], axis=1)


@dataclass
class Reduced:
    """What scoring keeps of the reconstructions of one curve: window errors and, per grid
    point, the sums of residuals and reconstructions over the usable windows covering it.
    Filled chunk by chunk (`Detector.reduce_into`), so that the (n_windows, D) residuals and
    reconstructions never have to exist whole."""

    werr: np.ndarray  # (n_windows,) NaN for unusable windows
    band_err: np.ndarray  # (n_windows, n_bands) NaN where a band has no data
    resid_sum: np.ndarray | None  # (n_bands, n_grid) float64, model units (over the error
    # for chi2); None when the windows share the grid's values and errors: it follows from
    # recon_sum then (`Detector.point_residuals`)
    recon_sum: np.ndarray  # (n_bands, n_grid) float64; model units unless per-window
    count: np.ndarray  # (n_grid,) usable windows covering each grid point


@dataclass
class Detector:
    """A trained autoencoder with its preprocessing and calibration: one code path everywhere."""

    config: DetectorConfig
    preprocessor: Preprocessor
    model: keras.Model
    calibration: Calibration | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    info: DetectorInfo = field(default_factory=DetectorInfo)
    point_scorer: PointScorer | None = None  # set by calibration
    objects: ObjectModel | None = None  # whole-curve mode's object model (models/objects.py)
    # one autoencoder per coarser novelty view, by grid points averaged (models/multiscale.py)
    coarse: dict[int, keras.Model] = field(default_factory=dict)
    # point scores fitted beside the chosen one, each with its calibrated null (`calibrate`):
    # a novelty model keeps the scan's, so it can be asked for events (`looking_for`)
    alternatives: dict[str, tuple[PointScorer, EmpiricalDistribution]] = field(
        default_factory=dict)

    def __post_init__(self) -> None:
        self._infer = inference_model(self.model)
        # inference models of the coarse networks, built on first use (with the network they
        # were built from: a view retrained gets a new one)
        self._coarse_infer: dict[int, tuple[keras.Model, keras.Model]] = {}

    def coarse_network(self, factor: int) -> Network:
        """One call of a coarser view's inference network (as `network`)."""
        net = self.coarse[factor]
        cached = self._coarse_infer.get(factor)
        if cached is None or cached[0] is not net:
            cached = self._coarse_infer[factor] = (net, inference_model(net))
        infer = cached[1]

        def run(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            z, r = infer.predict_on_batch(batch)
            return np.asarray(z), np.asarray(r)

        return run

    @property
    def point_method(self) -> str:
        """What the point score is: chosen at calibration for "auto"."""
        if self.calibration is not None:
            return self.calibration.point_method
        point = self.config.scoring.point
        return "scan" if point == "auto" else point

    @property
    def look_for(self) -> list[str]:
        """What this model can be asked to look for (`looking_for`), what it looks for
        without asking first: "events" (the scan), "shapes" (novelty)."""
        return [LOOK_FOR_WORDS[m] for m in [self.point_method, *self.alternatives]
                if m in LOOK_FOR_WORDS]

    def looking_for(self, what: str | None) -> Detector:
        """This model with the point score that finds `what`: "events" added to a series
        (flares, dips, transits: the residual scan), "shapes" and regimes that changed
        (novelty); None or "auto": as it was trained. The same networks, another point
        scorer with its own calibrated null (fitted at training, `calibrate`); the object
        scores are unchanged. Raises ConfigError where the model has no such score."""
        if what in (None, "auto"):
            return self
        wanted = LOOK_FOR_NAMES.get(str(what))
        if wanted is None:
            raise ConfigError(f"look for {what!r}: choose one of "
                              f"{sorted(LOOK_FOR_WORDS.values())} (or auto)")
        if wanted == self.point_method:
            return self
        if wanted not in self.alternatives or self.calibration is None:
            raise ConfigError(self._cannot_look_for(str(what), wanted))
        scorer, null = self.alternatives[wanted]
        other = copy.copy(self)  # the networks and their inference models are shared
        other.alternatives = {k: v for k, v in self.alternatives.items() if k != wanted}
        if self.point_scorer is not None:
            other.alternatives[self.point_method] = (self.point_scorer,
                                                     self.calibration.point)
        other.point_scorer = scorer
        other.calibration = dataclasses.replace(
            self.calibration, point=null, point_method=wanted,
            point_threshold=null.quantile(1.0 - self.calibration.target_far))
        other.info = copy.copy(self.info)
        other.info.update(point_score=wanted, point_score_reason=looked_for_reason(
            wanted, self.point_method))
        return other

    def _cannot_look_for(self, what: str, wanted: str) -> str:
        has = LOOK_FOR_WORDS.get(self.point_method)
        own = (f"this model looks for {has} (scoring.point={self.point_method})" if has
               else f"this model scores points by scoring.point={self.point_method}")
        if wanted == "novelty":
            return (f"{own}, and cannot look for {what}: novelty compares windows with the "
                    "training windows, which only a model trained for shapes keeps. Train "
                    "with --look-for shapes (scoring.point=novelty)")
        if self.point_method == "novelty":
            return (f"{own}, and this bundle holds no calibration of the residual scan "
                    "(saved by an lcad before the scan was calibrated beside novelty, or "
                    "its held-out curves could not calibrate it): to look for "
                    f"{what}, train again or fine-tune it (lcad finetune), or train with "
                    "--look-for events")
        return (f"{own}, and cannot look for {what}: train with --look-for {what} "
                f"(scoring.point={wanted})")

    @property
    def novelty_views(self) -> list[int]:
        """Grid points averaged in each view novelty compares (1: the windows themselves);
        [] when the point score is not novelty."""
        return [] if self.point_scorer is None else self.point_scorer.views

    def training_curves(self, object_ids: Sequence[str] | None = None) -> list[str]:
        """Those of `object_ids` (None: every one the model knows) whose windows the point
        score compares with (novelty's reference): training curves scored again, each window
        scored apart from its own and the reference windows overlapping it in time (a
        self-join)."""
        return [] if self.point_scorer is None else self.point_scorer.training_curves(
            object_ids)

    # ---- shapes --------------------------------------------------------------------------
    @property
    def window(self) -> int:
        return self.config.preprocess.window

    @property
    def bands(self) -> list[str]:
        return self.preprocessor.bands

    @property
    def input_dim(self) -> int:
        return self.window * len(self.bands)

    @property
    def latent_dim(self) -> int:
        return int(self._infer.outputs[0].shape[-1])

    @property
    def embedding_dim(self) -> int:
        """Length of the codes `encode` returns: the object model's in whole-curve mode."""
        return self.latent_dim if self.objects is None else self.objects.latent_dim

    @property
    def representation(self) -> str:
        """What the network sees, in words (`GET /v1/model`, the CLI, the run's tags)."""
        pcfg = self.config.preprocess
        if pcfg.mode != "whole":
            return (f"sliding windows of {pcfg.window} grid points at cadence "
                    f"{self.preprocessor.cadence:g}")
        grid = f"each object resampled onto {pcfg.window} points"
        if self.objects is None:
            return f"whole curves: {grid}; object score from its reconstruction error"
        return (f"whole curves: {grid}; object score from {len(self.objects.names)} "
                f"light-curve features (periods {'on' if self.objects.cfg.periods else 'off'})"
                " through an autoencoder, then an Isolation Forest"
                + (f" and {self.objects.neighbour_text}"
                   if self.objects.score_kind != "forest" else ""))

    @property
    def threshold(self) -> float:
        if self.calibration is None:
            raise LcadError("detector is not calibrated")
        return self.calibration.point_threshold

    # ---- the shared path -----------------------------------------------------------------
    def prepare(self, curve: LightCurve, stride: int | None = None,
                anchor: CurveAnchor | None = None) -> Prepared:
        """Resample, window and normalise one curve (raises LightCurveError when unusable).
        `anchor`: the curve is a piece of a longer one (`score_piece`)."""
        cfg = self.config.preprocess
        pre = self.preprocessor
        res = pre.resample(curve, anchor, self.piece_alignment)
        win = make_windows(res, self.window, stride or cfg.stride)
        valid = win.valid_fraction() >= cfg.min_valid_fraction
        if pre.per_window:
            d = self.input_dim
            inputs = np.empty((win.n_windows, 2 * d), np.float32)  # filled in place
            off, sc = pre.window_offsets(win.x, win.mask, res)
            inputs[:, :d], en = pre.normalize(win.x, win.err, win.mask, off, sc)
            win.cut(res.mask, out=inputs[:, d:])
            return Prepared(curve, res, win, off, sc, en, valid, window_inputs=inputs)
        # one offset per band: normalise the grid once; windows are cut from it on demand
        band_off, band_sc = pre.band_offsets(res)
        xg, eg = pre.normalize_grid(res, band_off, band_sc)
        shape = (win.n_windows, len(self.bands))
        off, sc = np.broadcast_to(band_off, shape), np.broadcast_to(band_sc, shape)
        return Prepared(curve, res, win, off, sc, eg, valid, xgrid=xg)

    def predict_arrays(self, inputs: np.ndarray, network: Network | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Latent codes and reconstructions of (n, 2*D) inputs, in padded fixed-size batches
        (`network`: another pass than the deterministic one, e.g. a `StochasticNetwork`)."""
        network = network or self.network
        n = inputs.shape[0]
        z_out = np.empty((n, self.latent_dim), np.float32)
        r_out = np.empty((n, self.input_dim), np.float32)
        for lo in range(0, n, MAX_BATCH):
            chunk = inputs[lo: lo + MAX_BATCH]
            m = chunk.shape[0]
            size = bucket_size(m)
            if size > m:
                chunk = np.concatenate([chunk, np.zeros((size - m, chunk.shape[1]), np.float32)])
            z, r = network(chunk)
            z_out[lo: lo + m] = z[:m]
            r_out[lo: lo + m] = r[:m]
        return z_out, r_out

    def network(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One call of the inference network: latent codes and reconstructions (numpy)."""
        z, r = self._infer.predict_on_batch(batch)
        return np.asarray(z), np.asarray(r)

    def prepare_many(self, curves: Sequence[LightCurve]) -> list[Prepared | LightCurveError]:
        """`prepare` of every curve, or in its place the LightCurveError that makes it
        unusable. In whole-curve mode the curves are resampled and normalised together
        (`Preprocessor.resample_whole`: the same arrays as one at a time)."""
        out: list[Prepared | LightCurveError | None] = [None] * len(curves)
        pre, cfg = self.preprocessor, self.config.preprocess
        if self.one_window_each:
            done = [(i, r) for i, r in enumerate(pre.resample_whole(curves)) if r is not None]
            if done:
                off, sc, xg, eg = pre.normalize_grids([r for _i, r in done])
                mask = np.stack([r.mask for _i, r in done])
                counts = mask.sum(axis=2)
                valid = counts.sum(axis=1) / (counts.shape[1] * self.window) \
                    >= cfg.min_valid_fraction
                shape = (1, len(self.bands))
                # the network inputs of all at once: each curve's one window is its grid
                inputs = np.concatenate([xg.reshape(len(done), -1),
                                         mask.reshape(len(done), -1)], axis=1,
                                        dtype=np.float32)
                for k, (i, r) in enumerate(done):
                    p = Prepared(curves[i], r, one_window(r, counts[k]),
                                 np.broadcast_to(off[k], shape), np.broadcast_to(sc[k], shape),
                                 eg[k], valid[k: k + 1], xgrid=xg[k])
                    p.__dict__["inputs"] = inputs[k: k + 1]  # the cached property's value
                    out[i] = p
        for i, c in enumerate(curves):
            if out[i] is None:
                try:
                    out[i] = self.prepare(c)
                except LightCurveError as exc:
                    out[i] = exc
        return [o for o in out if o is not None]

    def _prepare_all(
        self, curves: Sequence[LightCurve], on_error: str
    ) -> tuple[list[Prepared], dict[str, str]]:
        prepared, skipped = [], {}
        for c, p in zip(curves, self.prepare_many(curves), strict=True):
            if isinstance(p, LightCurveError):
                if on_error == "raise":
                    raise p
                skipped[c.object_id] = p.message
            else:
                prepared.append(p)
        return prepared, skipped

    def _run(self, prepared: Sequence[Prepared], network: Network | None = None
             ) -> list[tuple[np.ndarray, np.ndarray]]:
        if not prepared:
            return []
        return split_outputs(prepared, *self.predict_arrays(stack_inputs(prepared), network))

    def _run_reduced(self, prepared: Sequence[Prepared], network: Network | None = None
                     ) -> list[tuple[np.ndarray, Reduced]]:
        """Latent codes and `Reduced` reconstructions of every curve. Curves with many windows
        go through the network a batch at a time, each batch reduced as it comes out; short
        curves are stacked so that they share network calls."""
        out: list[tuple[np.ndarray, Reduced] | None] = [None] * len(prepared)
        small = [i for i, p in enumerate(prepared) if p.win.n_windows < MAX_BATCH]
        for i, p in enumerate(prepared):
            if p.win.n_windows < MAX_BATCH:
                continue
            n_w = p.win.n_windows
            z = np.empty((n_w, self.latent_dim), np.float32)
            red = self.new_reduced(p)
            full = n_w - n_w % STREAM_BATCH  # whole large batches, then padded buckets
            buf = np.empty((STREAM_BATCH, 2 * self.input_dim), np.float32)  # reused
            for lo in range(0, n_w, STREAM_BATCH):
                hi = min(lo + STREAM_BATCH, n_w)
                if lo < full:
                    zc, rc = (network or self.network)(p.input_rows(slice(lo, hi), out=buf))
                else:
                    zc, rc = self.predict_arrays(p.input_rows(slice(lo, hi)), network)
                z[lo:hi] = zc
                self.reduce_into(p, red, rc, lo)
            out[i] = (z, red)
        whole = self.one_window_each
        for batch in window_batches([prepared[i].win.n_windows for i in small], MAX_BATCH):
            group = [small[k] for k in batch]
            sub = [prepared[j] for j in group]
            if whole:  # one window a curve: reduced together
                z_all, r_all = self.predict_arrays(stack_inputs(sub), network)
                for k, (j, red) in enumerate(zip(group, self.reduce_whole(sub, r_all),
                                                 strict=True)):
                    out[j] = (z_all[k: k + 1], red)
                continue
            for j, p, (z, r) in zip(group, sub, self._run(sub, network), strict=True):
                out[j] = (z, self.reduce(p, r))
        return [o for o in out if o is not None]

    # ---- public verbs --------------------------------------------------------------------
    @classmethod
    def fit(cls, curves: CurvesLike,
            config: DetectorConfig | Mapping[str, Any] | None = None,
            **sections: Mapping[str, Any]) -> Detector:
        """Train and calibrate a detector on `curves` (the training metrics are in `.metrics`).

        `config`: a DetectorConfig or a mapping of sections; `sections` update it, e.g.
        `Detector.fit(curves, train={"epochs": 10}, preprocess={"window": 32})`. `curves`:
        LightCurves, a DataFrame or a flux array (`frames.as_curves`).
        """
        from lcad.models.fit import fit_detector

        curves = as_curves(curves)

        cfg = config if isinstance(config, DetectorConfig) else DetectorConfig.from_dict(config)
        if sections:
            cfg = cfg.with_sections(sections)
        detector, _metrics = fit_detector(curves, cfg)
        return detector

    def encode(self, curves: CurvesLike) -> list[CurveEncoding]:
        """Latent code of every window (z_mean for the variational model); with an object
        model (whole-curve mode), each object's embedding."""
        prepared, _ = self._prepare_all(as_curves(curves), "raise")
        self.assess_objects(prepared)
        return [self.finish_encode(p, z) for p, (z, _r) in
                zip(prepared, self._run(prepared), strict=True)]

    def reconstruct(self, curves: CurvesLike) -> list[CurveReconstruction]:
        """Reconstructed flux at every input time."""
        prepared, _ = self._prepare_all(as_curves(curves), "raise")
        return [self.finish_reconstruct(p, r) for p, (_z, r) in
                zip(prepared, self._run(prepared), strict=True)]

    def score(
        self,
        curves: CurvesLike,
        threshold: float | None = None,
        on_error: str = "raise",
        samples: int = 0,
        seed: int | None = None,
    ) -> ScoreResult:
        """Scores, p-values, verdicts and intervals; on_error='skip' records unusable curves.
        `samples` >= 2: also the mean and spread of the scores over that many random passes
        (Monte-Carlo dropout, the variational posterior: `CurveScore.uncertainty`).
        `curves`: LightCurves, a DataFrame or a flux array (`frames.as_curves`)."""
        if self.calibration is None:
            raise LcadError("detector is not calibrated: it cannot score")
        network = self.stochastic_network(samples, seed) if samples else None
        prepared, skipped = self._prepare_all(as_curves(curves), on_error)
        self.assess_objects(prepared)
        out = self._score_pass(prepared, threshold)
        if network is not None:
            self.attach_spread(prepared, out, samples, network, threshold)
        return ScoreResult(out, skipped)

    # ---- uncertainty (models/uncertainty.py) ----------------------------------------------
    def stochastic_network(self, samples: int, seed: int | None = None) -> StochasticNetwork:
        """The random pass for `samples` passes (LcadError: samples out of range, or a model
        without dropout that is not variational)."""
        check_samples(samples)
        return StochasticNetwork(self.model, seed)

    def attach_spread(self, prepared: Sequence[Prepared], scores: Sequence[CurveScore],
                      samples: int, network: StochasticNetwork,
                      threshold: float | None = None) -> None:
        """Score `prepared` `samples` times through `network` and set each score's
        `uncertainty` (`scores[i]` is the deterministic score of `prepared[i]`)."""
        def kept(c: CurveScore) -> tuple[Any, ...]:  # a pass keeps only what is averaged
            return c.score, c.point_score, c.window_error, c.reconstruction

        runs = [[kept(c) for c in self._score_pass(prepared, threshold, network)]
                for _ in range(samples)]
        notes = []
        if self.objects is not None:
            notes.append("the object score is the object model's (light-curve features "
                         "through its own network, not sampled): its spread is 0; the point "
                         "scores carry the sampled network's spread")
        for i, c in enumerate(scores):
            score, points, windows, recon = zip(*(run[i] for run in runs), strict=True)
            c.uncertainty = ScoreSpread.of(network.sources, list(score), list(points),
                                           list(windows), list(recon), notes)

    # ---- long curves in pieces (lcad score --segment-points) ------------------------------
    @property
    def piece_alignment(self) -> int:
        """Grid steps a piece's grid start is a multiple of, so that its windows (every
        `stride`) and coarse views (every `factor`) are those of the whole curve."""
        return math.lcm(self.config.preprocess.stride,
                        *self.config.scoring.view_factors(self.window))

    @property
    def piece_margin(self) -> float:
        """Time a piece needs on each side of its core so that every point of the core sees
        what it sees in the whole curve: the longest view, the longest scan run, the longest
        interpolated gap, the alignment, and two steps."""
        if self.whole_curves:
            raise LcadError("whole-curve mode scores every curve at once")
        views = max([1, *self.novelty_views])
        steps = (self.window * views + max(self.config.scoring.scales)
                 + math.ceil(self.config.preprocess.max_gap) + self.piece_alignment + 2)
        return steps * self.preprocessor.cadence

    def score_piece(self, piece: LightCurve, anchor: CurveAnchor, core: tuple[float, float],
                    threshold: float | None = None, samples: int = 0,
                    network: StochasticNetwork | None = None
                    ) -> tuple[CurveScore, np.ndarray]:
        """Score a piece of the curve `anchor` was taken from, on that curve's grid and
        statistics; returns its score and the errors of the windows starting in the
        `core` time range [a, b). The errors of every core put together are those of the
        whole curve's windows, so `object_verdict` on them gives the whole curve's verdict.
        `samples`, `network`: the piece's points get their spread over random passes."""
        if self.calibration is None:
            raise LcadError("detector is not calibrated: it cannot score")
        p = self.prepare(piece, anchor=anchor)
        ((z, red),) = self._run_reduced([p])
        start = p.res.grid_time[p.win.starts]
        in_core = (start >= core[0]) & (start < core[1])
        c = self.finish_score_reduced(p, z, red, threshold)
        if samples and network is not None:  # the piece's point spreads
            self.attach_spread([p], [c], samples, network, threshold)
        return c, red.werr[in_core]

    def object_verdict(self, window_errors: np.ndarray, any_interval: bool,
                       threshold: float | None = None) -> tuple[float, float, bool]:
        """Object score, p-value and verdict from the errors of all of a curve's windows
        (NaN: unusable). With a `threshold`, the verdict is whether any interval passed it."""
        cal = self.calibration
        if cal is None:
            raise LcadError("detector is not calibrated: it cannot score")
        scfg = self.config.scoring
        obj = object_score(window_errors, scfg.object_aggregation, scfg.top_k)
        # the smallest window p-value is that of the largest error (p falls with the error)
        finite = window_errors[np.isfinite(window_errors)]
        best_p = cal.window.p_values(np.array([finite.max() if finite.size else np.nan]))
        n_independent = finite.size * self.config.preprocess.stride / self.window
        obj_p = cal.object_p_value(obj, best_p, n_independent)
        if threshold is not None:
            return obj, obj_p, any_interval
        return obj, obj_p, bool(np.isfinite(obj_p) and obj_p <= cal.target_far)

    # ---- the object model (whole-curve mode) ---------------------------------------------
    def assess_objects(self, prepared: Sequence[Prepared]) -> None:
        """The object model's answers for every prepared curve, in one batch (a no-op
        without an object model)."""
        todo = [p for p in prepared if p.assessed is None]
        if self.objects is None or not todo:
            return
        raw = self.objects.feature_rows([p.curve for p in todo])  # all at once: vectorised
        a = self.objects.assess(raw)
        for i, p in enumerate(todo):
            p.assessed = ObjectAssessment(a.score[i: i + 1], a.embedding[i: i + 1],
                                          a.error[i: i + 1])

    def _assessment(self, p: Prepared) -> ObjectAssessment | None:
        if self.objects is None:
            return None
        if p.assessed is None:
            self.assess_objects([p])
        return p.assessed

    def calibrate_objects(self, curves: Sequence[LightCurve]) -> None:
        """The object p-values and threshold from the object model's scores of held-out
        `curves` (replacing those of the grid's window errors)."""
        if self.objects is None or self.calibration is None:
            return
        usable = [c for c in curves if c.mask.any()]
        scores = self.objects.assess(self.objects.feature_rows(usable)
                                     ).score if usable else np.empty(0)
        cal, scfg = self.calibration, self.config.scoring
        scores = scores[np.isfinite(scores)]
        obj = EmpiricalDistribution.fit(scores) if scores.size >= scfg.min_calibration_objects \
            else None
        self.calibration = dataclasses.replace(
            cal, object=obj, n_objects=int(scores.size),
            object_threshold=None if obj is None else obj.quantile(1.0 - cal.target_far))

    # ---- the steps after the network (the service batches the network call itself) -------
    def finish_encode(self, p: Prepared, z: np.ndarray) -> CurveEncoding:
        start, end = window_times(p.res, p.win)
        a = self._assessment(p)
        return CurveEncoding(p.curve.object_id, start, end, z if a is None else a.embedding,
                             list(p.curve.warnings))

    def finish_reconstruct(self, p: Prepared, r: np.ndarray) -> CurveReconstruction:
        recon_grid = self._reconstruction_grid(p, self.reduce(p, r))
        return CurveReconstruction(
            p.curve.object_id, p.curve.time, p.curve.band_labels(), p.curve.flux,
            self._at_points(p, recon_grid), list(p.curve.warnings))

    # ---- scoring internals ---------------------------------------------------------------
    def residuals_of(self, p: Prepared, recon: np.ndarray, rows: slice = slice(None)
                     ) -> np.ndarray:
        """(n, D) float32 residuals in model units (over the error for chi2), 0 masked, of the
        windows in `rows` (`recon` holds just those windows)."""
        if p.xgrid is not None:  # (x - recon) times the grid's weights: mask (over the error)
            r = np.subtract(p.win.rows(p.xgrid, rows), recon, dtype=np.float32)
            r *= p.win.rows(p.weights(self.config.scoring.error), rows)
            return r
        d = self.input_dim
        block = p.inputs[rows]
        return residuals(block[:, :d], recon, block[:, d:], p.en_rows(rows),
                         self.config.scoring.error)

    def window_errors_of(self, p: Prepared, recon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Window errors (NaN for unusable windows) and (n_windows, n_bands) band errors."""
        return window_errors(self.residuals_of(p, recon), p.win.band_counts, p.valid)

    def new_reduced(self, p: Prepared) -> Reduced:
        n_w, nb, n_grid = p.win.n_windows, len(self.bands), p.res.n_grid
        return Reduced(np.full(n_w, np.nan), np.full((n_w, nb), np.nan),
                       None if p.xgrid is not None else np.zeros((nb, n_grid)),
                       np.zeros((nb, n_grid)),
                       coverage_count(p.win.starts, self.window, n_grid, p.valid))

    def reduce_into(self, p: Prepared, red: Reduced, recon: np.ndarray, lo: int = 0) -> None:
        """Add the reconstructions of windows lo, lo+1... (`recon`, model units) to `red`."""
        w, nb, n_grid = self.window, len(self.bands), p.res.n_grid
        for a in range(0, recon.shape[0], REDUCE_BLOCK):
            rc = recon[a: a + REDUCE_BLOCK]
            rows = slice(lo + a, lo + a + rc.shape[0])
            resid = self.residuals_of(p, rc, rows)
            ok = p.valid[rows]
            red.werr[rows], red.band_err[rows] = window_errors(resid, p.win.band_counts[rows],
                                                               ok)
            if self.preprocessor.per_window:  # each window maps back with its own scale
                rc = self.preprocessor.denormalize(rc, p.offset[rows], p.scale[rows])
            if not ok.all():  # unusable windows add nothing
                resid[~ok] = 0.0
                rc = np.where(ok[:, None], rc, 0.0)
            starts = p.win.starts[rows]
            for b in range(nb):
                cols = slice(b * w, (b + 1) * w)
                diagonal_sums(rc[:, cols], starts, n_grid, out=red.recon_sum[b])
                if red.resid_sum is not None:
                    diagonal_sums(resid[:, cols], starts, n_grid, out=red.resid_sum[b])

    def reduce(self, p: Prepared, recon: np.ndarray) -> Reduced:
        """`Reduced` of all the windows of a curve from their (n_windows, D) reconstructions."""
        red = self.new_reduced(p)
        self.reduce_into(p, red, recon)
        return red

    @property
    def whole_curves(self) -> bool:
        """Whether this detector scores survey objects whole (whole-curve mode: one grid an
        object, an object score), not dense series in windows."""
        return self.config.preprocess.mode == "whole"

    @property
    def one_window_each(self) -> bool:
        """Every prepared curve is one window on its own grid, with offsets per band
        (whole-curve mode): a batch of them is reduced at once (`reduce_whole`)."""
        return self.whole_curves and not self.preprocessor.per_window

    def finish_scores(self, prepared: Sequence[Prepared], z: np.ndarray, recon: np.ndarray,
                      threshold: float | None = None) -> list[CurveScore]:
        """`finish_score` of several curves from their stacked network outputs: reduced
        together in whole-curve mode, their novelty in shared products (`prefetch`)."""
        pairs = split_outputs(prepared, z, recon)
        reduced = self.reduce_whole(prepared, recon) if self.one_window_each and prepared \
            else [self.reduce(p, r) for p, (_z, r) in zip(prepared, pairs, strict=True)]
        outputs = [(zz, red) for (zz, _r), red in zip(pairs, reduced, strict=True)]
        if self.point_scorer is not None:
            self.point_scorer.prefetch(self, prepared, outputs)
        return self._finish_all(prepared, outputs, threshold)

    def _score_pass(self, prepared: Sequence[Prepared], threshold: float | None,
                    network: Network | None = None) -> list[CurveScore]:
        """One pass of `prepared` through the network (`network`: a random one), finished in
        batches: the point scorer's shared work first, then every curve's answer."""
        outputs = self._run_reduced(prepared, network)
        if self.point_scorer is not None:
            self.point_scorer.prefetch(self, prepared, outputs)
        return self._finish_all(prepared, outputs, threshold)

    def _finish_all(self, prepared: Sequence[Prepared],
                    outputs: Sequence[tuple[np.ndarray, Reduced]],
                    threshold: float | None) -> list[CurveScore]:
        if self.one_window_each:  # a few thousand at a time: the temporaries stay small
            blocks = range(0, len(prepared), FINISH_BLOCK)
            return [c for lo in blocks for c in self.finish_whole(
                prepared[lo: lo + FINISH_BLOCK], outputs[lo: lo + FINISH_BLOCK], threshold)]
        return [self.finish_score_reduced(p, z, red, threshold)
                for p, (z, red) in zip(prepared, outputs, strict=True)]

    def reduce_whole(self, prepared: Sequence[Prepared], recon: np.ndarray) -> list[Reduced]:
        """`reduce` of curves with one window each, covering their grid (whole-curve mode,
        offsets per band), from their stacked (n, D) reconstructions: the same arrays,
        computed for all at once."""
        n, d, nb = len(prepared), self.input_dim, len(self.bands)
        x = np.stack([p.xgrid for p in prepared if p.xgrid is not None]).reshape(n, d)
        resid = np.subtract(x, recon, dtype=np.float32)
        weight = np.stack([p.res.mask for p in prepared]).astype(np.float32).reshape(n, d)
        if self.config.scoring.error == "chi2":
            weight /= np.stack([p.errors for p in prepared]).reshape(n, d)
        resid *= weight
        counts = np.concatenate([p.win.band_counts for p in prepared])
        ok = np.concatenate([p.valid for p in prepared])
        werr, band_err = window_errors(resid, counts, ok)
        recon_sum = np.where(ok[:, None], recon, 0.0).astype(np.float64).reshape(n, nb, -1)
        count = np.repeat(ok.astype(np.int64)[:, None], self.window, axis=1)
        return [Reduced(werr[k: k + 1], band_err[k: k + 1], None, recon_sum[k], count[k])
                for k in range(n)]

    def grid_scores(self, p: Prepared, red: Reduced, z: np.ndarray | None = None
                    ) -> np.ndarray:
        """Point score on the grid (the calibrated point scorer's); NaN where there is no
        data. `z`: the latent codes of the curve's windows."""
        if self.point_scorer is None:
            raise LcadError("detector is not calibrated: it has no point scorer")
        return self.point_scorer.grid_scores(self, p, red, z)

    def point_shape(self, p: Prepared, red: Reduced, keys: Sequence[str]
                    ) -> dict[str, np.ndarray] | None:
        """(n_bands, n_grid) properties `keys` (slope, depth) of the mean reconstruction
        (`reconstruction_shape`), in the residuals' units; None with per-window normalisation
        (no one reconstruction on the grid)."""
        if p.xgrid is None:
            return None
        recon = np.where(red.count > 0, red.recon_sum / np.maximum(red.count, 1), np.nan)
        return reconstruction_shape(recon, p.errors if self.config.scoring.error == "chi2"
                                    else None, keys)

    def point_residuals(self, p: Prepared, red: Reduced) -> np.ndarray:
        """(n_bands, n_grid) residual of every grid point (`residuals_of`), averaged over the
        usable windows covering it; NaN where there is no data."""
        ok = p.res.mask & (red.count > 0)
        count = np.maximum(red.count, 1)
        if red.resid_sum is not None:
            return np.where(ok, red.resid_sum / count, np.nan)
        # every covering window sees the same value and error at a grid point: the mean of
        # their residuals is the residual of their mean reconstruction
        if p.xgrid is None:
            raise LcadError("per-window normalisation keeps its residual sums")
        r = p.xgrid - red.recon_sum / count
        if self.config.scoring.error == "chi2":
            r /= p.errors
        return np.where(ok, r, np.nan)

    def _reconstruction_grid(self, p: Prepared, red: Reduced) -> np.ndarray:
        """(n_bands, n_grid) reconstructed flux, averaged over the usable windows."""
        grid = np.where(red.count > 0, red.recon_sum / np.maximum(red.count, 1), np.nan)
        if self.preprocessor.per_window:
            return grid
        # offsets shared by all windows: averaged in model units, mapped back once
        return grid * p.scale[0][:, None] + p.offset[0][:, None]  # a curve has >= 1 window

    def _at_points(self, p: Prepared, grid_values: np.ndarray) -> np.ndarray:
        """Per-band linear interpolation of a (n_bands, n_grid) array at the input times."""
        out = np.full(p.curve.time.size, np.nan)
        for b in range(len(self.bands)):
            sel = p.res.point_band == b
            ok = np.isfinite(grid_values[b])
            if sel.any() and ok.any():
                vals = np.interp(p.curve.time[sel], p.res.grid_time[ok], grid_values[b][ok])
                # no extrapolation into regions no usable window covered
                near = ok[p.res.point_grid[sel]]
                out[sel] = np.where(near, vals, np.nan)
        return out

    def finish_score(self, p: Prepared, z: np.ndarray, recon: np.ndarray,
                     threshold: float | None = None) -> CurveScore:
        """Score one curve from its network outputs (latent codes, reconstructions)."""
        return self.finish_score_reduced(p, z, self.reduce(p, recon), threshold)

    def finish_score_reduced(self, p: Prepared, z: np.ndarray, red: Reduced,
                             threshold: float | None = None) -> CurveScore:
        cal = self._calibrated()
        grid_score = self.grid_scores(p, red, z=z)
        recon_grid = self._reconstruction_grid(p, red)
        scaled_resid = (p.res.values - recon_grid) / p.res.object_scale[:, None]
        grid_resid = np.nansum(np.where(p.res.mask, scaled_resid, 0.0), axis=0)
        return self._curve_score(p, z, red, grid_score, cal.point.p_values(grid_score),
                                 recon_grid, grid_resid, threshold)

    def finish_whole(self, prepared: Sequence[Prepared],
                     outputs: Sequence[tuple[np.ndarray, Reduced]],
                     threshold: float | None = None) -> list[CurveScore]:
        """`finish_score_reduced` of curves with one window each (`one_window_each`), their
        grids' p-values, reconstructions and residuals computed together (the same values)."""
        if not prepared:
            return []
        cal = self._calibrated()
        grid_score = np.stack([self.grid_scores(p, red, z=z)
                               for p, (z, red) in zip(prepared, outputs, strict=True)])
        count = np.stack([red.count for _z, red in outputs])[:, None, :]
        recon = np.where(count > 0, np.stack([red.recon_sum for _z, red in outputs])
                         / np.maximum(count, 1), np.nan)
        recon = recon * np.stack([p.scale[0] for p in prepared])[:, :, None] \
            + np.stack([p.offset[0] for p in prepared])[:, :, None]
        scaled_resid = (np.stack([p.res.values for p in prepared]) - recon) \
            / np.stack([p.res.object_scale for p in prepared])[:, :, None]
        grid_resid = np.nansum(np.where(np.stack([p.res.mask for p in prepared]),
                                        scaled_resid, 0.0), axis=1)
        grid_p = cal.point.p_values(grid_score.ravel()).reshape(grid_score.shape)
        return [self._curve_score(p, z, red, grid_score[k], grid_p[k], recon[k],
                                  grid_resid[k], threshold)
                for k, (p, (z, red)) in enumerate(zip(prepared, outputs, strict=True))]

    def _calibrated(self) -> Calibration:
        if self.calibration is None:
            raise LcadError("detector is not calibrated: it cannot score")
        return self.calibration

    def _curve_score(self, p: Prepared, z: np.ndarray, red: Reduced, grid_score: np.ndarray,
                     grid_p: np.ndarray, recon_grid: np.ndarray, grid_resid: np.ndarray,
                     threshold: float | None) -> CurveScore:
        """A curve's score from its grid's point scores, p-values, reconstruction and
        residual (summed over bands, in robust sigmas)."""
        cal = self._calibrated()
        scfg = self.config.scoring
        werr = red.werr
        thr = cal.point_threshold if threshold is None else float(threshold)
        pt_score = np.where(p.curve.mask, grid_score[p.res.point_grid], np.nan)
        pt_p = np.where(p.curve.mask, grid_p[p.res.point_grid], np.nan)
        pt_flag = np.isfinite(pt_score) & (pt_score > thr)
        core = self.point_scorer.grid_core(self, p, red, z, thr) \
            if self.point_scorer is not None and np.any(grid_score > thr) else None
        intervals = find_intervals(p.res.grid_time, grid_score, grid_p, grid_resid, thr,
                                   scfg.merge_gap, scfg.extend_z, core)
        if core is not None:  # narrowed runs: a point is flagged inside an interval only
            pt_flag &= _inside(p.res.grid_time, intervals)[p.res.point_grid]
        a = self._assessment(p)
        if a is None:
            obj, obj_p, anomalous = self.object_verdict(werr, bool(intervals), threshold)
        else:  # the object model's score, against held-out objects
            obj = float(a.score[0])
            # (the window p-values count only without calibration objects)
            obj_p = cal.object_p_value(obj, cal.window.p_values(werr) if cal.object is None
                                       else werr, 1.0)
            anomalous = bool(intervals) if threshold is not None \
                else bool(np.isfinite(obj_p) and obj_p <= cal.target_far)
            z = a.embedding
        warn = list(p.curve.warnings)
        if not p.valid.any():
            warn.append("no window has enough valid points: the curve has no score" if a is None
                        else "no window has enough valid points: its points have no score "
                        "(the object score is from its features)")
        start, end = window_times(p.res, p.win)
        return CurveScore(
            object_id=p.curve.object_id, score=obj, p_value=obj_p, is_anomalous=anomalous,
            threshold=thr, intervals=intervals, time=p.curve.time,
            band=p.curve.band_labels(), flux=p.curve.flux,
            reconstruction=self._at_points(p, recon_grid), point_score=pt_score,
            point_p_value=pt_p, is_anomaly=pt_flag, window_start=start, window_end=end,
            window_error=werr, window_band_error=red.band_err,
            latent=z, bands=list(self.bands), warnings=warn,
            training_curve=bool(self.training_curves([p.curve.object_id])),
        )

    def calibrate(self, curves: Sequence[LightCurve],
                  reference: Sequence[LightCurve] = ()) -> Calibration:
        """Fit the point scorer, thresholds and p-value tables on held-out curves (never the
        training windows).

        With `scoring.point` "auto" the point score is chosen here (`choose_point_method`):
        the residual scan when the held-out residuals are white, novelty against the windows
        of `reference` (the training curves) when they are not. Held-out curves that are
        parts of the reference curves (a split by time) calibrate novelty by self-join.
        """
        prepared, _ = self._prepare_all(curves, "skip")
        if not prepared:
            raise LightCurveError("no calibration curve is long enough for one window")
        scfg = self.config.scoring
        outputs = self._run_reduced(prepared)
        held = HeldOut(prepared, [z for z, _red in outputs], [red for _z, red in outputs],
                       not {c.object_id for c in curves} & {c.object_id for c in reference})
        lag1 = None
        repeats = repeat_fraction(reference or curves)
        if scfg.point in ("auto", "scan"):
            lag1 = lag1_autocorrelation([r for p, _z, red in held
                                         for r in self.point_residuals(p, red)])
        method = choose_point_method(scfg.point, lag1, repeats, bool(reference))
        scorer = point_scorer(method)
        try:
            nulls = scorer.fit(self, held, reference)
        except LightCurveError as exc:
            if scfg.point != "auto" or method == "scan":
                raise
            # chosen, not asked for: too few training windows to compare with (one curve
            # in whole-curve mode, or series too short for two windows apart), so the scan
            if not self.one_window_each:
                warnings.warn(f"`auto` chose novelty (the held-out residuals are not white), "
                              f"but {exc.message}. The residual scan scores the points "
                              "instead", FitWarning, stacklevel=2)
            scorer = point_scorer("scan")
            nulls = scorer.fit(self, held, reference)
        self.point_scorer = scorer
        self.alternatives = {}
        if scorer.name == "novelty":  # the scan beside it: the model can look for events
            self._fit_alternative("scan", held, reference)
        objs = [object_score(red.werr, scfg.object_aggregation, scfg.top_k)
                for red in held.reduced]
        self.calibration = Calibration.fit(
            np.concatenate([red.werr for red in held.reduced]), nulls,
            np.array(objs), scfg.target_far, scfg.min_calibration_objects, scorer.name, lag1,
            repeats)
        return self.calibration

    def _fit_alternative(self, name: str, held: HeldOut,
                         reference: Sequence[LightCurve]) -> None:
        """Fit the point score `name` beside the chosen one on the same held-out curves,
        for `looking_for`; left out (with a FitWarning) where the data cannot support it."""
        alt = point_scorer(name)
        try:
            nulls = alt.fit(self, held, reference)
        except LightCurveError as exc:
            warnings.warn(f"the point score {name!r} could not be calibrated beside "
                          f"{self.point_method!r} ({exc.message}): the model cannot be asked "
                          f"to look for {LOOK_FOR_WORDS.get(name, name)}", FitWarning,
                          stacklevel=3)
            return
        if not np.isfinite(nulls).any():
            return
        self.alternatives[name] = (alt, EmpiricalDistribution.fit(nulls))

    # ---- the bundle ----------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "lcad_version": __version__,
            "keras_version": keras.__version__,
            "keras_backend": keras.backend.backend(),
            "created_at": _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime()),
            "config": self.config.model_dump(mode="json"),
            "preprocess": self.preprocessor.to_dict(),
            "input_dim": self.input_dim,
            "latent_dim": self.latent_dim,
            "representation": self.representation,
            "metrics": self.metrics,
            "info": self.info.to_dict(),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the bundle atomically: a crash leaves the old bundle (or nothing), never half."""
        if self.calibration is None:
            raise LcadError("detector is not calibrated: calibrate it before saving")
        calibration, scorer = self.calibration, self.point_scorer

        def fill(tmp: Path) -> dict[str, Any]:
            self.model.save(tmp / MODEL_FILE)
            for factor, net in sorted(self.coarse.items()):
                net.save(tmp / coarse_file(factor))
            extra = scorer.calibration_state() if scorer is not None else {}
            if self.alternatives:
                extra["alternatives"] = {
                    name: {"point": dataclasses.asdict(null), **alt.calibration_state()}
                    for name, (alt, null) in self.alternatives.items()}
            write_json(tmp / CALIBRATION_FILE, {**calibration.to_dict(), **extra})
            for one in [scorer, *(alt for alt, _null in self.alternatives.values())]:
                if one is not None:
                    one.save(tmp)
            meta = self.describe()
            if self.objects is not None:
                meta["objects"] = self.objects.save(tmp)
            if self.coarse:
                meta["coarse_networks"] = sorted(self.coarse)
            return meta

        return write_bundle(Path(path), fill)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Detector:
        """Load a bundle (Keras safe mode, no pickle); errors name the file and the problem."""
        root = bundle_root(Path(path))
        meta = read_json(root / CONFIG_FILE)
        version = meta.get("schema_version")
        if version != SCHEMA_VERSION:
            raise BundleError(root / CONFIG_FILE,
                              f"schema_version {version!r} is not supported "
                              f"(this lcad {__version__} reads {SCHEMA_VERSION})")
        verify_files(root, meta, [MODEL_FILE, CALIBRATION_FILE])
        cal_data = read_json(root / CALIBRATION_FILE)
        method = cal_data.get("point_method", "scan")
        scorer_class = POINT_SCORERS.get(method)
        if scorer_class is None:
            raise BundleError(root / CALIBRATION_FILE,
                              f"point score {method!r} is not known here (known: "
                              f"{sorted(POINT_SCORERS)}); register its scorer "
                              "(lcad.models.point_scores.register_point_scorer) before loading")
        try:
            config = DetectorConfig.model_validate(_as_saved(meta["config"]))
            pre = Preprocessor.from_dict(meta["preprocess"])
            calibration = Calibration.from_dict(cal_data)
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(root / CONFIG_FILE, f"invalid or incompatible content: {exc}") \
                from None
        try:
            model = keras.saving.load_model(root / MODEL_FILE, compile=False, safe_mode=True)
        except Exception as exc:  # keras raises many types for a bad archive
            raise BundleError(root / MODEL_FILE, f"cannot be loaded: {exc}") from None
        expected_dim = 2 * len(pre.bands) * config.preprocess.window
        if model.input_shape[-1] != expected_dim:
            raise BundleError(root / MODEL_FILE,
                              f"model takes {model.input_shape[-1]} inputs, config implies "
                              f"{expected_dim}")
        coarse = {}
        for factor in meta.get("coarse_networks", []):
            name = coarse_file(int(factor))
            verify_files(root, meta, [name])
            try:
                coarse[int(factor)] = keras.saving.load_model(root / name, compile=False,
                                                              safe_mode=True)
            except Exception as exc:  # as for the main network
                raise BundleError(root / name, f"cannot be loaded: {exc}") from None
        scorer = scorer_class.load(root, cal_data)
        alternatives = {}
        for name, saved in dict(cal_data.get("alternatives") or {}).items():
            alt_class = POINT_SCORERS.get(name)
            if alt_class is None:  # a score this lcad does not know: not offered
                continue
            try:
                alternatives[name] = (alt_class.load(root, saved),
                                      EmpiricalDistribution(**saved["point"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise BundleError(root / CALIBRATION_FILE,
                                  f"the point score {name!r} beside {method!r} cannot be "
                                  f"read: {exc}") from None
        info = DetectorInfo.from_dict(dict(meta.get("info", {})))
        info.source = info.source or str(root)
        objects = None
        if "objects" in meta:
            verify_files(root, meta, [OBJECTS_MODEL_FILE])
            objects = ObjectModel.load(root, meta["objects"], config.objects)
        return cls(config, pre, model, calibration, dict(meta.get("metrics", {})), info,
                   scorer, objects, coarse, alternatives)


def _inside(grid_time: np.ndarray, intervals: Sequence[Interval]) -> np.ndarray:
    """(n_grid,) True at the grid points some interval spans."""
    return spans_mask(grid_time, [iv.start for iv in intervals], [iv.end for iv in intervals])


def _as_saved(config: dict[str, Any]) -> dict[str, Any]:
    """A bundle's config with the defaults it was calibrated under where a later lcad
    changed them: novelty was spread to points by the largest before `novelty_spread`, and
    the scan had no flanks before `scan_flanks`, no segment row before `scan_segments` and
    no oscillation row before `scan_oscillations` and no quiet row before `scan_quiet` (its
    calibration holds a table per row),
    and its segments kept one level before `segment_moves`, and its rows' tails were
    unbounded before `scan_tail_bound` (the tables are saved: this matters when it is
    calibrated again, as fine-tuning does), and novelty's mean kept the start of a series
    as it came before `novelty_level_start`, and its views were `novelty_scales` alone
    before `novelty_span`, and its segments' mean length was the largest of `scales` before
    `segment_length`, and its runs tested the residuals as they were before `scan_baseline`,
    and wherever the reconstruction was steep or deep alike before `scan_scatter`, and
    novelty's intervals were its flagged runs before `novelty_intervals`;
    its network was trained without synthetic offsets before `model.segment_offsets` (what
    the bundle reports, and what fine-tuning from it keeps)."""
    scoring = dict(config.get("scoring", {}))
    scoring.setdefault("novelty_spread", "max")
    scoring.setdefault("scan_flanks", False)
    scoring.setdefault("scan_segments", False)
    scoring.setdefault("scan_oscillations", 0)
    scoring.setdefault("scan_quiet", 0)
    scoring.setdefault("scan_baseline", 0)
    scoring.setdefault("scan_scatter", 0)
    scoring.setdefault("segment_moves", 0.0)
    scoring.setdefault("scan_tail_bound", False)
    scoring.setdefault("novelty_level_start", False)
    scoring.setdefault("novelty_span", 0)
    scoring.setdefault("novelty_intervals", "flagged")
    if "segment_length" not in scoring:  # the largest scale until `segment_length`
        scoring["segment_length"] = max(scoring.get("scales") or [16])
    model = dict(config.get("model", {}))
    model.setdefault("segment_offsets", 0.0)
    return {**config, "scoring": scoring, "model": model}


def coarse_file(factor: int) -> str:
    """The bundle file of the coarser view's network that averages `factor` grid points."""
    return f"coarse_{factor}.keras"


def stack_inputs(prepared: Sequence[Prepared]) -> np.ndarray:
    """The network inputs of several prepared curves, one after the other."""
    if len(prepared) == 1:
        return prepared[0].model_input()
    return np.concatenate([p.model_input() for p in prepared])


def split_outputs(prepared: Sequence[Prepared], z: np.ndarray, r: np.ndarray
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cut stacked network outputs back into one (latent, reconstruction) pair per curve."""
    out, lo = [], 0
    for p in prepared:
        hi = lo + p.win.n_windows
        out.append((z[lo:hi], r[lo:hi]))
        lo = hi
    return out
