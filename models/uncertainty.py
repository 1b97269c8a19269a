"""Uncertainty of scores: N stochastic passes of the network give a mean and a spread.

Two sources of randomness a trained autoencoder can carry (Gal & Ghahramani 2016's
Monte-Carlo dropout; a variational autoencoder's posterior):
- **dropout**: the network's Dropout layers stay active at scoring time (BatchNormalization
  keeps its moving statistics: only the dropout masks are random);
- **latent**: the variational model's code is drawn from its posterior,
  z = z_mean + exp(z_log_var / 2) * eps, instead of taken at its mean.
Each pass is scored exactly as the deterministic one (same calibration, same point scorer);
the spread of the scores over passes is the score's uncertainty. A model with neither
source has no sampling-based uncertainty and says so (`NoUncertaintyError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from lcad.models.errors import LcadError

MAX_SAMPLES = 200


class NoUncertaintyError(LcadError):
    """The model has no dropout and is not variational: every pass would be the same."""


def sampling_sources(autoencoder: keras.Model) -> list[str]:
    """What makes passes differ: "dropout" (Dropout layers with a rate) and "latent" (the
    variational posterior); [] for a deterministic network."""
    sources = []
    parts = [autoencoder.get_layer("encoder"), autoencoder.get_layer("decoder")]
    if any(isinstance(layer, keras.layers.Dropout) and layer.rate > 0
           for part in parts for layer in part.layers):
        sources.append("dropout")
    if len(parts[0].outputs) == 2:  # z_mean, z_log_var
        sources.append("latent")
    return sources


def no_uncertainty_message() -> str:
    return ("this model has no sampling-based uncertainty: it has no dropout and is not "
            "variational, so every pass would give the same scores; train one with "
            "--set model.dropout=0.1 (Monte-Carlo dropout) or --set model.variant=variational")


class StochasticNetwork:
    """A callable like `Detector.network` (batch -> latent codes, reconstructions) whose
    every call is one random pass: Dropout layers active, the variational code sampled.
    The layers are the trained model's own (shared weights); BatchNormalization and the
    training-only input noise stay in inference mode."""

    def __init__(self, autoencoder: keras.Model, seed: int | None = None):
        self.sources = sampling_sources(autoencoder)
        if not self.sources:
            raise NoUncertaintyError(no_uncertainty_message())
        self.encoder = autoencoder.get_layer("encoder")
        self.decoder = autoencoder.get_layer("decoder")
        self.rng = np.random.default_rng(seed)
        self.seed = keras.random.SeedGenerator(int(self.rng.integers(2**31)))

    def _chain(self, model: keras.Model, x: Any) -> tuple[Any, dict[str, Any]]:
        """Run a sub-model's layers in order (they form a chain; heads named z_mean /
        z_log_var both read the last hidden layer)."""
        heads: dict[str, Any] = {}
        for layer in model.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            if layer.name in ("z_mean", "z_log_var"):
                heads[layer.name] = layer(x)
            elif isinstance(layer, keras.layers.Dropout):
                x = keras.random.dropout(x, layer.rate, seed=self.seed) if layer.rate else x
            elif isinstance(layer, keras.layers.BatchNormalization):
                x = layer(x, training=False)
            else:
                x = layer(x)
        return x, heads

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, heads = self._chain(self.encoder, keras.ops.convert_to_tensor(batch))
        if heads:
            z_mean, z_log_var = heads["z_mean"], heads["z_log_var"]
            eps = keras.random.normal(keras.ops.shape(z_mean), seed=self.seed)
            z = z_mean + keras.ops.exp(0.5 * z_log_var) * eps
        else:
            z = h
        r, _ = self._chain(self.decoder, z)
        return keras.ops.convert_to_numpy(z), keras.ops.convert_to_numpy(r)


@dataclass
class ScoreSpread:
    """Mean and standard deviation of a curve's scores over `samples` random passes."""

    samples: int
    sources: list[str]
    score_mean: float
    score_std: float
    point_score_mean: np.ndarray
    point_score_std: np.ndarray
    window_error_mean: np.ndarray
    window_error_std: np.ndarray
    reconstruction_mean: np.ndarray
    reconstruction_std: np.ndarray
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, sources: list[str], scores: list[float], point_scores: list[np.ndarray],
           window_errors: list[np.ndarray], reconstructions: list[np.ndarray],
           notes: list[str]) -> ScoreSpread:
        def mean_std(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            a = np.stack(rows).astype(float)
            ok = np.isfinite(a).all(axis=0)
            safe = np.where(ok, a, 0.0)
            return (np.where(ok, safe.mean(axis=0), np.nan),
                    np.where(ok, safe.std(axis=0, ddof=1), np.nan))

        (s_mean, s_std) = mean_std([np.array([s], float) for s in scores])
        pts, wins = mean_std(point_scores), mean_std(window_errors)
        recs = mean_std(reconstructions)
        return cls(len(scores), list(sources), float(s_mean[0]), float(s_std[0]),
                   pts[0], pts[1], wins[0], wins[1], recs[0], recs[1], list(notes))

    def to_json(self, points: bool) -> dict[str, Any]:
        from lcad.models.results import finite_or_none

        out: dict[str, Any] = {
            "samples": self.samples, "sources": self.sources,
            "score_mean": finite_or_none(self.score_mean),
            "score_std": finite_or_none(self.score_std), "notes": self.notes}
        if points:
            out["point_score_mean"] = np.ascontiguousarray(self.point_score_mean, np.float64)
            out["point_score_std"] = np.ascontiguousarray(self.point_score_std, np.float64)
        return out


def check_samples(samples: int) -> int:
    if not 2 <= samples <= MAX_SAMPLES:
        raise LcadError(f"samples must be between 2 and {MAX_SAMPLES} (got {samples}): the "
                        "spread needs two passes, and each pass costs a whole scoring")
    return samples
