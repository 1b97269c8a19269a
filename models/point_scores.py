"""Point scores: how surprising each grid point of a curve is, one class per method.

A `PointScorer` fits its own state on held-out curves (after the network has run on them),
scores a prepared curve on its grid, and saves and loads its own part of the bundle. The
Detector dispatches once, through `POINT_SCORERS`; adding a method is one class decorated
with `register_point_scorer` and its name as `scoring.point`. `choose_point_method` is the
"auto" rule, a pure function of what calibration measured.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from lcad.models.errors import BundleError, ConfigError, LcadError, LightCurveError
from lcad.models.lightcurve import LightCurve
from lcad.models.multiscale import view_outputs, view_windows
from lcad.models.novelty import LAG1_LIMIT, QUERY_BLOCK, REPEAT_LIMIT, Novelty, Scale
from lcad.models.scoring import (
    LOG10_TAIL_SCALE,
    EmpiricalDistribution,
    ScatterCurve,
    run_variance_ratio,
    scan_scores,
    scan_statistics,
)
from lcad.models.windows import (
    coverage_max,
    coverage_mean,
    coverage_min,
    level_start,
    window_batches,
)

SPREADS = {"max": coverage_max, "mean": coverage_mean, "min": coverage_min}

if TYPE_CHECKING:
    from lcad.models.detector import Detector, Prepared, Reduced

NOVELTY_FILE = "novelty.npz"  # training windows and codes, when the point score is novelty


@dataclass
class HeldOut:
    """The held-out curves calibration runs on, each with its network outputs."""

    prepared: list[Prepared]
    codes: list[np.ndarray]  # latent codes of each curve's windows
    reduced: list[Reduced]
    independent: bool  # other objects than the reference's (a split by object)

    def __iter__(self) -> Any:
        return iter(zip(self.prepared, self.codes, self.reduced, strict=True))


class PointScorer(ABC):
    """One way to score points. Subclasses set `name` (and `basis`, what the scores rest on,
    said in the run's autoencoder verdict) and implement the three verbs."""

    name: ClassVar[str]
    basis: ClassVar[str] = ""

    @abstractmethod
    def fit(self, det: Detector, held_out: HeldOut, reference: Sequence[LightCurve]
            ) -> np.ndarray:
        """Fit this scorer's state; return the null point scores that set the threshold
        (raises LightCurveError when the data cannot support the method)."""

    @abstractmethod
    def grid_scores(self, det: Detector, p: Prepared, red: Reduced, z: np.ndarray | None,
                    ref_curve: int | None = None) -> np.ndarray:
        """(n_grid,) point score of a prepared curve; NaN where there is none. `ref_curve`:
        the curve is that one of the reference (calibration by self-join)."""

    def grid_core(self, det: Detector, p: Prepared, red: Reduced, z: np.ndarray | None,
                  threshold: float) -> np.ndarray | None:
        """(n_grid,) True at the points a flagged interval narrows to (`find_intervals`'
        `core`), after `grid_scores` of the same curve; None: the flagged points stand."""
        return None

    def prefetch(self, det: Detector, prepared: Sequence[Prepared],
                 outputs: Sequence[tuple[np.ndarray, Reduced]]) -> None:
        """Work of many curves' `grid_scores` done together, ahead of them (`Detector.score`:
        `outputs[i]` = the latent codes and `Reduced` of `prepared[i]`); none by default."""
        return None

    def calibration_state(self) -> dict[str, Any]:
        """What this scorer keeps in calibration.json (JSON types)."""
        return {}

    def save(self, bundle_dir: Path) -> list[str]:
        """Write this scorer's own files into the bundle; returns their names."""
        return []

    @classmethod
    def load(cls, bundle_dir: Path, calibration: dict[str, Any]) -> PointScorer:
        """The scorer as saved (its files and its calibration.json entries)."""
        return cls()

    @property
    def views(self) -> list[int]:
        """Grid points averaged in each view the scorer compares ([]: not a view method)."""
        return []

    def training_curves(self, object_ids: Sequence[str] | None = None) -> list[str]:
        """Those of `object_ids` (None: every one it knows) that name a curve this scorer
        compares with (a training curve scored again; scored apart from its own windows);
        none by default."""
        return []


POINT_SCORERS: dict[str, type[PointScorer]] = {}
# `lcad train --look-for`'s word for each point score (lcad/cli.py's LOOK_FOR, kept light
# there for the parser: tests/training/test_cli.py checks that the two agree)
LOOK_FOR_WORDS = {"scan": "events", "novelty": "shapes"}
LOOK_FOR_NAMES = {word: method for method, word in LOOK_FOR_WORDS.items()}


# each point score in words (the `point score:` line)
DESCRIPTIONS = {
    "scan": "the residual scan (the reconstruction's residuals tested against the held-out "
            "ones)",
    "novelty": "novelty (each window's distance to the nearest training windows)"}


def looked_for_reason(method: str, trained: str) -> str:
    """The point score's sentence where scoring asked for another than the model's own
    (`Detector.looking_for`)."""
    return (f"{DESCRIPTIONS.get(method, method)}, asked for when scoring (look for "
            f"{LOOK_FOR_WORDS.get(method, method)}; its null calibrated at training on the "
            f"same held-out curves) in place of the model's own, "
            f"{DESCRIPTIONS.get(trained, trained)}")


def register_point_scorer(cls: type[PointScorer]) -> type[PointScorer]:
    """Make `cls` available as `scoring.point: <cls.name>`."""
    if not getattr(cls, "name", "") or cls.name == "auto":
        raise ValueError(f"{cls.__name__}: a point scorer needs a name other than 'auto'")
    POINT_SCORERS[cls.name] = cls
    return cls


def point_scorer(name: str) -> PointScorer:
    """A new, unfitted scorer of the method `name`."""
    try:
        return POINT_SCORERS[name]()
    except KeyError:
        raise ConfigError(f"unknown point score {name!r}; known: "
                              f"{sorted(POINT_SCORERS)}") from None


def residuals_structured(lag1: float | None) -> bool:
    """The held-out residuals are not white: |lag-1 autocorrelation| above LAG1_LIMIT."""
    return lag1 is not None and abs(lag1) > LAG1_LIMIT


def fluxes_noiseless(repeats: float | None) -> bool:
    """REPEAT_LIMIT or more of the training fluxes' consecutive values repeat exactly."""
    return (repeats or 0.0) >= REPEAT_LIMIT


def choose_point_method(requested: str, lag1: float | None, repeats: float | None,
                        has_reference: bool) -> str:
    """The "auto" rule: the residual scan when the held-out residuals look like white noise
    (|lag-1 autocorrelation| <= LAG1_LIMIT) and the training fluxes have noise (less than
    REPEAT_LIMIT of consecutive values repeat exactly); otherwise novelty, when there are
    training curves to compare with. Any other request stands."""
    if requested != "auto":
        return requested
    structured_or_noiseless = residuals_structured(lag1) or fluxes_noiseless(repeats)
    return "novelty" if structured_or_noiseless and has_reference else "scan"


def point_score_reason(det: Detector, metrics: dict[str, float], requested: str,
                       window: int) -> str:
    """What scores the points and why, in a sentence (the CLI's `point score:` line, the
    bundle's `info.point_score_reason`, `GET /v1/model`, the run's tag): `auto`'s choice
    with its measure, and where novelty was chosen the key that tests the residuals instead
    (a flare or a dip on a variable star whose residuals stay structured: the scan found the
    synthetic eclipsing star's events at PR-AUC 0.85 against novelty's 0.32,
    docs/quality-log.md session 46). `requested`: `scoring.point` as asked for; `window`:
    the window asked for (where `auto` chose)."""
    method = det.point_method
    what = DESCRIPTIONS.get(method, method)
    also = [LOOK_FOR_WORDS[m] for m in det.alternatives if m in LOOK_FOR_WORDS]
    asked = ("" if not also else
             f"; `lcad score --look-for {also[0]}` (/v1/score's look_for) asks this model "
             f"for {DESCRIPTIONS.get(LOOK_FOR_NAMES[also[0]])}, calibrated beside it, no "
             "training again")
    if requested != "auto":
        look = LOOK_FOR_WORDS.get(requested)
        return f"{what} (scoring.point={requested}" + (
            f", what --look-for {look} sets)" if look else ")") + asked
    lag1, repeats = metrics.get("residual_lag1"), metrics.get("repeat_fraction")
    noiseless = (f"the training fluxes repeat exactly ({repeats or 0.0:.0%} of consecutive "
                 "values): no noise to test residuals against")
    if method == "novelty":
        why = (noiseless if fluxes_noiseless(repeats) else
               f"the held-out residuals are structured: lag-1 {lag1:+.2f}, beyond "
               f"+-{LAG1_LIMIT:g}" if lag1 is not None else "the held-out residuals are "
               "structured")
        return (f"{what}, chosen by scoring.point=auto ({why}); it finds changed shapes and "
                "regimes. For events added to a structured series (flares, dips, transits "
                "on a variable star) --look-for events (scoring.point=scan) tests the "
                f"residuals instead{asked}")
    if method == "scan" and "window_period" in metrics and det.config.scoring.point == "scan":
        # the scan's period rule sets the scan in the retrained config; novelty's rule
        # leaves `auto`, which chose again on the windows of the period (the lines below)
        return (f"{what}, chosen by scoring.point=auto on windows of {window} grid points "
                "(their held-out residuals were white) and kept on the windows of the period")
    if method == "scan" and residuals_structured(lag1):
        return (f"{what}: scoring.point=auto chose novelty (lag-1 {lag1:+.2f}, beyond "
                f"+-{LAG1_LIMIT:g}), which could not compare windows (the training warned)")
    if method == "scan" and fluxes_noiseless(repeats):
        return (f"{what}: scoring.point=auto chose novelty ({noiseless}), which could not "
                "compare windows (the training warned)")
    if method == "scan" and lag1 is not None:
        return (f"{what}, chosen by scoring.point=auto (the held-out residuals are white: "
                f"lag-1 {lag1:+.2f}, within +-{LAG1_LIMIT:g})")
    return f"{what} (scoring.point=auto)"


def _spread(det: Detector, values: np.ndarray, starts: np.ndarray, span: int, n_grid: int
            ) -> np.ndarray:
    """Window novelty to grid points (`scoring.novelty_spread`; the mean with the series'
    start levelled when `scoring.novelty_level_start`)."""
    scoring = det.config.scoring
    grid = SPREADS[scoring.novelty_spread](values, starts, span, n_grid)
    if scoring.novelty_spread == "mean" and scoring.novelty_level_start:
        grid = level_start(grid, values, starts, span)
    return grid


@register_point_scorer
class WindowErrorScorer(PointScorer):
    """The mean error of the windows covering each point."""

    name = "window"
    basis = "point scores are the covering windows' reconstruction errors"

    def fit(self, det: Detector, held_out: HeldOut, reference: Sequence[LightCurve]
            ) -> np.ndarray:
        return np.concatenate([self.grid_scores(det, p, red, z) for p, z, red in held_out])

    def grid_scores(self, det: Detector, p: Prepared, red: Reduced, z: np.ndarray | None,
                    ref_curve: int | None = None) -> np.ndarray:
        s = coverage_mean(red.werr, p.win.starts, det.window, p.res.n_grid)
        return np.where(p.res.mask.any(axis=0), s, np.nan)


@register_point_scorer
class ScanScorer(PointScorer):
    """The residuals scanned at several run lengths, with `scan_flanks` on both flanks of each
    point, with `scan_segments` for the posterior of an anomalous segment, with
    `scan_oscillations` for a sinusoid (`scan_statistics`), each row's surprise calibrated on
    held-out data, the most surprising row kept."""

    name = "scan"
    basis = "point scores test the residuals against the noise (scan)"

    def __init__(self, tables: list[EmpiricalDistribution] | None = None,
                 baseline: int = 0, red: float | None = None,
                 scatter: dict[str, ScatterCurve] | None = None):
        self.tables = tables
        self.baseline = baseline  # the running median the runs test against (0: none)
        self.red = red  # the held-out residuals' `run_variance_ratio` at `scan_baseline`
        # the residuals' scatter against the reconstruction's slope and depth (`scan_scatter`)
        self.scatter = scatter or {}

    def scatter_at(self, det: Detector, p: Prepared, red: Reduced,
                   shape: dict[str, np.ndarray] | None = None) -> np.ndarray | None:
        """(n_bands, n_grid) scatter the residuals are expected to have at each cell,
        relative to the flattest (the larger of the fitted curves' scales at the
        reconstruction's slope and depth, `shape` when already taken); None without
        curves."""
        if not self.scatter:
            return None
        shape = shape if shape is not None else det.point_shape(p, red, list(self.scatter))
        if shape is None:
            return None
        return np.maximum.reduce([curve(shape[k]) for k, curve in self.scatter.items()])

    def fit(self, det: Detector, held_out: HeldOut, reference: Sequence[LightCurve]
            ) -> np.ndarray:
        scfg = det.config.scoring
        residuals = [det.point_residuals(p, red) for p, _z, red in held_out]
        self.scatter = {}
        shapes: list[dict[str, np.ndarray] | None] = [None] * len(residuals)
        if scfg.scan_scatter and det.config.preprocess.mode != "whole":
            shapes = [det.point_shape(p, red, scfg.scan_scatter_by) for p, _z, red in held_out]
            for key in scfg.scan_scatter_by:
                values = [sh[key] for sh in shapes if sh is not None]
                curve = (ScatterCurve.fit(residuals, values, scfg.scan_scatter)
                         if len(values) == len(residuals) else None)
                if curve is not None:
                    self.scatter[key] = curve
        scatter = [self.scatter_at(det, p, red, sh)
                   for (p, _z, red), sh in zip(held_out, shapes, strict=True)]
        self.baseline, self.red = 0, None
        length = scfg.scan_baseline if det.config.preprocess.mode != "whole" else 0
        if length:
            self.red = run_variance_ratio([r if a is None else r / a
                                           for r, a in zip(residuals, scatter, strict=True)],
                                          length, scfg.scan_clip)
            if self.red is not None and self.red >= scfg.scan_baseline_red:
                self.baseline = length
        stats = [scan_statistics(r, scfg.scales, scfg.scan_clip,
                                 scfg.scan_cover, scfg.scan_flanks, self.segments(det),
                                 self.oscillations(det), scfg.segment_moves, self.quiet(det),
                                 scfg.segment_length, self.baseline, a)
                 for r, a in zip(residuals, scatter, strict=True)]
        # every row is in -log10 units: its tail bounded as a p-value's (config doc)
        bound = LOG10_TAIL_SCALE if scfg.scan_tail_bound else 0.0
        self.tables = [EmpiricalDistribution.fit(np.concatenate([st[i] for st in stats]), bound)
                       if any(np.isfinite(st[i]).any() for st in stats)
                       else EmpiricalDistribution.fit(np.zeros(1))
                       for i in range(len(stats[0]))]
        return np.concatenate([self.grid_scores(det, p, red, z) for p, z, red in held_out])

    def grid_scores(self, det: Detector, p: Prepared, red: Reduced, z: np.ndarray | None,
                    ref_curve: int | None = None) -> np.ndarray:
        scfg = det.config.scoring
        s = scan_scores(det.point_residuals(p, red), scfg.scales, scfg.scan_clip, self.tables,
                        scfg.scan_cover, scfg.scan_flanks, self.segments(det),
                        self.oscillations(det), scfg.segment_moves, self.quiet(det),
                        scfg.segment_length, self.baseline,
                        self.scatter_at(det, p, red))
        return np.where(p.res.mask.any(axis=0), s, np.nan)

    @staticmethod
    def segments(det: Detector) -> bool:
        """The segment row (`scan_segments`) in sliding-window mode; whole-curve mode skips
        it: a survey object's grid is one window, answered by the object score."""
        return det.config.scoring.scan_segments and det.config.preprocess.mode != "whole"

    @staticmethod
    def oscillations(det: Detector) -> int:
        """The oscillation row's run length (`scan_oscillations`) in sliding-window mode, 0
        in whole-curve mode (as `segments`)."""
        return 0 if det.config.preprocess.mode == "whole" else det.config.scoring.scan_oscillations

    @staticmethod
    def quiet(det: Detector) -> int:
        """The quiet row's run length (`scan_quiet`) in sliding-window mode, 0 in whole-curve
        mode (as `segments`)."""
        return 0 if det.config.preprocess.mode == "whole" else det.config.scoring.scan_quiet

    def calibration_state(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {"scan": None if self.tables is None else [asdict(t) for t in self.tables],
                "scan_baseline": self.baseline, "residual_red": self.red,
                "scan_scatter": {k: asdict(c) for k, c in self.scatter.items()}}

    @classmethod
    def load(cls, bundle_dir: Path, calibration: dict[str, Any]) -> PointScorer:
        scan = calibration.get("scan")
        red = calibration.get("residual_red")
        scatter = calibration.get("scan_scatter") or {}
        return cls([EmpiricalDistribution(**d) for d in scan] if scan else None,
                   int(calibration.get("scan_baseline") or 0),
                   None if red is None else float(red),
                   {k: ScatterCurve(**d) for k, d in scatter.items()})


@register_point_scorer
class NoveltyScorer(PointScorer):
    """The novelty (models/novelty.py: distance to the nearest training window in input and
    latent space) of the windows covering each point, spread to the point by their mean (or
    largest, smallest: `scoring.novelty_spread`), the largest over every view (the windows
    themselves and the grid averaged over `scoring.novelty_scales` points)."""

    name = "novelty"
    basis = ("point scores rest on the distance to the nearest training windows (novelty), "
             "not on the reconstruction")

    def __init__(self, novelty: Novelty | None = None):
        self.novelty = novelty

    @property
    def views(self) -> list[int]:
        return [] if self.novelty is None else [1] + [s.factor for s in self.novelty.scales]

    def training_curves(self, object_ids: Sequence[str] | None = None) -> list[str]:
        if self.novelty is None or self.novelty.origin is None:
            return []
        if object_ids is None:
            return list(dict.fromkeys(self.novelty.ref_ids))
        return [o for o in object_ids if self.novelty.reference_curve(o) is not None]

    def fit(self, det: Detector, held_out: HeldOut, reference: Sequence[LightCurve]
            ) -> np.ndarray:
        """Set the reference: every usable window (stride 1) of the reference curves, with its
        latent code (a random subsample beyond `MAX_REFERENCE`). Held-out objects give the null
        scores; when the held-out curves are parts of the reference curves (a split by time)
        the null is the reference curves themselves, each window scored without the
        reference windows overlapping it in time (the matrix profile's self-join)."""
        if not reference:
            raise LightCurveError("novelty needs training curves to compare with")
        prepared, _ = det._prepare_all(reference, "skip")
        outputs = det._run_reduced(prepared)
        xs, zs, errs, origin = [], [], [], []
        for i, (p, (z, red)) in enumerate(zip(prepared, outputs, strict=True)):
            xs.append(p.xn[p.valid])
            zs.append(z[p.valid])
            errs.append(red.werr[p.valid])
            starts = p.res.grid_time[p.win.starts[p.valid]]
            origin.append(np.stack([np.full(starts.size, i), starts], axis=1))
        if not xs or sum(x.shape[0] for x in xs) < 2:
            raise LightCurveError("novelty needs training curves with at least two usable "
                                  "windows")
        scales = []
        seed = det.config.train.seed
        for factor in det.config.scoring.view_factors(det.window):
            cx, cz, cerr, corigin = [], [], [], []
            for i, p in enumerate(prepared):
                cw = view_windows(det, p, factor)
                out = view_outputs(det, cw, factor)
                if out is not None:
                    cz.append(out[0])
                    cerr.append(out[1])
                cx.append(cw.x)
                corigin.append(np.stack([np.full(cw.starts.size, i),
                                         p.res.grid_time[cw.starts]], axis=1))
            net = factor in det.coarse
            scale = Scale.fit(factor, np.concatenate(cx), np.concatenate(corigin),
                              _window_duration(det) * factor, seed,
                              np.concatenate(cz) if net and cz else None,
                              np.concatenate(cerr) if net and cerr else None)
            if scale is not None:  # too short a reference for this view: skipped
                scales.append(scale)
        self.novelty = Novelty.fit(np.concatenate(xs), np.concatenate(zs),
                                   np.concatenate(origin), seed, scales, np.concatenate(errs),
                                   det.config.scoring.novelty_parts,
                                   [p.curve.object_id for p in prepared])
        if held_out.independent:
            return np.concatenate([self.grid_scores(det, p, red, z)
                                   for p, z, red in held_out])
        nulls = np.concatenate([self.grid_scores(det, p, red, z, ref_curve=i)
                                for i, (p, (z, red)) in enumerate(zip(prepared, outputs,
                                                                      strict=True))])
        if not np.isfinite(nulls).any():
            # the self-join skips the windows overlapping each one in time: on series
            # shorter than two windows every other window overlaps, and nothing is left
            longest = max(p.res.n_grid for p in prepared)
            raise LightCurveError(
                f"novelty compares each training window with the ones that do not overlap "
                f"it, and the longest training series ({longest} grid points) holds no two "
                f"windows of {det.window} apart: give series of at least {2 * det.window} "
                f"grid points, a smaller --window, or --set scoring.point=scan")
        return nulls

    def grid_scores(self, det: Detector, p: Prepared, red: Reduced, z: np.ndarray | None,
                    ref_curve: int | None = None) -> np.ndarray:
        w = self.window_novelty(det, p, z, red, ref_curve)
        s = _spread(det, w, p.win.starts, det.window, p.res.n_grid)
        for scale in self._fitted().scales:
            s = np.fmax(s, self._coarse_novelty(det, p, scale, ref_curve))
        return np.where(p.res.mask.any(axis=0), s, np.nan)

    def grid_core(self, det: Detector, p: Prepared, red: Reduced, z: np.ndarray | None,
                  threshold: float) -> np.ndarray | None:
        """The points every window covering them finds novel beyond `threshold` (the
        smallest over the covering windows: session 47), where `scoring.novelty_intervals`
        is 'core'; from the window novelty `grid_scores` computed (kept on `p`)."""
        if det.config.scoring.novelty_intervals != "core" or det.one_window_each:
            return None
        w = self.window_novelty(det, p, z, red)
        low = coverage_min(w, p.win.starts, det.window, p.res.n_grid)
        return np.isfinite(low) & (low > threshold)

    def _fitted(self) -> Novelty:
        if self.novelty is None:
            raise LcadError("the novelty scorer has no reference: fit it first")
        return self.novelty

    def prefetch(self, det: Detector, prepared: Sequence[Prepared],
                 outputs: Sequence[tuple[np.ndarray, Reduced]]) -> None:
        """The window novelty of many short curves (whole-curve objects: one window each)
        in shared nearest-neighbour products, about QUERY_BLOCK windows at a time,
        instead of one product per curve; each kept on its curve with the latent codes it
        belongs to (`window_novelty` uses it for those codes only)."""
        novelty = self._fitted()
        short = [(p, z, red) for p, (z, red) in zip(prepared, outputs, strict=True)
                 if p.win.n_windows < QUERY_BLOCK
                 and novelty.reference_curve(p.curve.object_id) is None]
        for batch in window_batches([p.win.n_windows for p, _z, _r in short], QUERY_BLOCK):
            part = [short[k] for k in batch]
            x = np.concatenate([p.inputs[:, : det.input_dim] for p, _z, _r in part])
            got = novelty.window_scores(x, np.concatenate([z for _p, z, _r in part]),
                                        np.concatenate([r.werr for _p, _z, r in part]))
            ends = np.cumsum([p.win.n_windows for p, _z, _r in part])
            for (p, z, _r), scores in zip(part, np.split(got, ends[:-1]), strict=True):
                p.window_novelty = (z, np.where(p.valid, scores, np.nan))

    def window_novelty(self, det: Detector, p: Prepared, z: np.ndarray | None, red: Reduced,
                       ref_curve: int | None = None) -> np.ndarray:
        """(n_windows,) novelty of every window (NaN for unusable ones). `ref_curve`: the
        curve is that one of the reference: its own windows and those overlapping them are
        not its neighbours."""
        novelty = self._fitted()
        if z is None:
            raise LcadError("novelty scores need the windows' latent codes")
        if ref_curve is None and p.window_novelty is not None and p.window_novelty[0] is z:
            return p.window_novelty[1]  # `prefetch`ed with these codes
        out = np.full(p.win.n_windows, np.nan)
        buf = np.empty((min(QUERY_BLOCK, p.win.n_windows), 2 * det.input_dim), np.float32)
        duration = _window_duration(det)
        own = ref_curve if ref_curve is not None else novelty.reference_curve(
            p.curve.object_id)
        for lo in range(0, p.win.n_windows, QUERY_BLOCK):
            rows = slice(lo, lo + QUERY_BLOCK)
            x = p.input_rows(rows, out=buf)[:, : det.input_dim]
            exclude = None if own is None else (
                own, p.res.grid_time[p.win.starts[rows]], duration)
            out[rows] = _scores_apart(novelty.window_scores, (x, z[rows], red.werr[rows]),
                                      exclude, fallback=ref_curve is None)
        out = np.where(p.valid, out, np.nan)
        if ref_curve is None:  # kept for `grid_core` (and any later call with these codes)
            p.window_novelty = (z, out)
        return out

    def _coarse_novelty(self, det: Detector, p: Prepared, scale: Scale,
                        ref_curve: int | None) -> np.ndarray:
        """(n_grid,) novelty at one coarser view of the windows covering each point (spread
        as `scoring.novelty_spread` says)."""
        cw = view_windows(det, p, scale.factor)
        if not cw.starts.size:
            return np.full(p.res.n_grid, np.nan)
        z = err = None
        if scale.has_network:
            out = view_outputs(det, cw, scale.factor)
            if out is None:
                raise LcadError(f"novelty's view of {scale.factor} grid points was calibrated "
                                "with its own network, which this detector lacks")
            z, err = out
        novelty = self._fitted()
        own = ref_curve if ref_curve is not None else novelty.reference_curve(
            p.curve.object_id)
        exclude = None if own is None else (
            own, p.res.grid_time[cw.starts], _window_duration(det) * scale.factor)
        values = _scores_apart(
            lambda x, zz, e, exc: scale.window_scores(x, zz, e, exc, novelty.parts),
            (cw.x, z, err), exclude, fallback=ref_curve is None)
        return _spread(det, values, cw.starts, det.window * scale.factor, p.res.n_grid)

    def save(self, bundle_dir: Path) -> list[str]:
        self._fitted().save(bundle_dir / NOVELTY_FILE)
        return [NOVELTY_FILE]

    @classmethod
    def load(cls, bundle_dir: Path, calibration: dict[str, Any]) -> PointScorer:
        path = bundle_dir / NOVELTY_FILE
        if not path.is_file():
            raise BundleError(path, "file is missing (the point score is novelty)")
        try:
            return cls(Novelty.load(path))
        except (KeyError, OSError, ValueError) as exc:
            raise BundleError(path, f"cannot be read: {exc}") from None


def _scores_apart(score: Callable[..., np.ndarray], arrays: Sequence[np.ndarray | None],
                  exclude: tuple[int, np.ndarray, float] | None, fallback: bool) -> np.ndarray:
    """`score(*arrays, exclude)`: windows of a reference curve scored apart from their own
    (and the windows overlapping them). With `fallback` (a training curve scored again,
    not a held-out part being calibrated) the windows left without a neighbour apart (a
    curve too short for one) are scored without the skip, as before session 47."""
    got = np.array(score(*arrays, exclude), np.float64)
    if fallback and exclude is not None:
        missing = np.flatnonzero(~np.isfinite(got))
        if missing.size:
            got[missing] = score(*(None if a is None else a[missing] for a in arrays), None)
    return got


def _window_duration(det: Detector) -> float:
    """Time one window spans (whole-curve mode: a whole curve, however long)."""
    if det.whole_curves:
        return float("inf")
    return det.window * det.preprocessor.cadence
