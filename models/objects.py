"""The odd object among many: whole-curve mode's per-object model (survey light curves).

A sparse survey curve (tens of epochs over years, several bands) resampled onto a grid is
mostly interpolation; what tells objects apart is what per-object normalisation throws away
and what a period search finds: amplitude, variability against the errors, shape statistics,
smoothness, period and its power, colours (`models/features.py`). Here:

1. every object's features are standardised by the training objects' medians and spreads
   (robust: median / IQR, clipped to +-10; a feature a band lacks is the median, 0);
2. a dense autoencoder (features -> hidden -> latent -> hidden -> features) learns them; its
   latent code is the object's embedding (`/v1/encode`, `lcad encode`);
3. the object score is read off the autoencoder's reconstruction and the log of its
   reconstruction error (the rows), against the training objects' rows. The reconstruction
   places an object on the manifold the network learned (rare kinds sit in sparse parts of
   it); the error says how far off it the object is (kinds never seen). Two detectors look at
   the rows, a global one and a local one, and the score is their sum, each on the robust
   scale (median, IQR) of the training objects' own scores (an outlier ensemble):
   - an Isolation Forest's anomaly score: an object at the edge of the training objects, or a
     minority clustered there (RR Lyrae c types among ab), isolates in few splits;
   - how far an object is from its K nearest training objects, at several K: the log of the
     mean distance to the K nearest (a training object skips itself), in robust units of the
     training objects' own, for K = 20, 40, 80, ... below half the reference rows
     (`neighbour_ladder`), and the largest of these. A small group between large ones
     (blazars among AGN and explosive transients) is far from K others, where a forest cuts
     through the gap it sits in. One K cannot serve every catalogue: LOF's MinPts must exceed
     the size of a group still to be called outlying (Breunig et al. 2000), and a rare kind
     with more members than K hides among its own (the RR Lyrae c types, a fifth of the
     stars, among 20 nearest). Like LOCI (Papadimitriou et al. 2003), which flags a point
     outlying at any radius, the score is the object's most outlying neighbourhood size;
     the ladder stops below half the catalogue, where a group is the normal.
   On 14 dev task set-ups (the RR Lyrae, Kepler and transient tasks, the transients also at
   4x), against features + Isolation Forest, the sum is at worst 0.026 ROC-AUC behind
   (docs/quality-log.md, session 33; one K of max(20, a tenth), sessions 26-32: 0.058).

P-values come from the scores of held-out calibration objects (`Calibration.object`). The
forest and the scales are refitted at load from the stored reference rows and seed (no
pickle in a bundle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from lcad.models.config import ObjectConfig
from lcad.models.errors import BundleError, LightCurveError
from lcad.models.features import PERIOD_SEARCHES, feature_matrix, feature_names
from lcad.models.lightcurve import LightCurve

OBJECTS_MODEL_FILE, OBJECTS_ARRAYS_FILE = "objects.keras", "objects.npz"
CLIP = 10.0
BATCH = 256  # objects per network call
MIN_OBJECTS = 8  # training objects the object model needs
FOREST_ROWS = 256  # rows walked through the forest at once: (trees, rows) stays in cache
NEIGHBOURS = 20  # the least K of the local score (LOF's usual 10-20; scikit-learn's default)
NEIGHBOUR_SHARE = 0.1  # one K: at least this share of the reference rows (`neighbour_count`)
NEIGHBOUR_REFERENCE = 4096  # training rows the local score compares with (seeded subsample)
SCORES = ("forest+neighbour-ladder", "forest+neighbours", "forest")  # how the object score
# is made: K = 20, 40, ... (session 33); one K (sessions 26-32); the forest alone (before
# session 26). A bundle's calibration holds the scores of the way it was saved with.


def _standardizer(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column medians and robust scales (IQR / 1.349; the std where the IQR is 0) of the
    finite values; a column with none: 0 and 1."""
    center = np.zeros(x.shape[1])
    scale = np.ones(x.shape[1])
    for j, col in enumerate(x.T):
        ok = col[np.isfinite(col)]
        if ok.size:
            center[j] = np.median(ok)
            q75, q25 = np.percentile(ok, [75, 25])
            s = (q75 - q25) / 1.349
            scale[j] = s if s > 1e-12 else max(float(ok.std()), 1e-12)
    return center, scale


def _robust_scale(values: np.ndarray) -> tuple[float, float]:
    """(median, IQR) of scores; the std where the IQR is 0, 1 where both are."""
    med = float(np.median(values))
    q75, q25 = np.percentile(values, [75, 25])
    spread = float(q75 - q25)
    if spread <= 1e-12:
        spread = float(np.std(values))
    return med, spread if spread > 1e-12 else 1.0


def neighbour_count(n_reference: int) -> int:
    """K of the local score for this many reference rows: NEIGHBOURS, or NEIGHBOUR_SHARE of
    them where that is more (a group of up to a tenth of the catalogue still stands out)."""
    return max(NEIGHBOURS, int(np.ceil(NEIGHBOUR_SHARE * n_reference)))


def neighbour_ladder(n_reference: int) -> list[int]:
    """The K of the local score for this many reference rows: NEIGHBOURS, doubled while it
    stays below half of them (a group of half the catalogue is the normal); [NEIGHBOURS]
    for fewer than 2 x NEIGHBOURS rows."""
    ks = [NEIGHBOURS]
    while 2 * ks[-1] < n_reference / 2:
        ks.append(2 * ks[-1])
    return ks


def neighbour_distances(reference: np.ndarray, rows: np.ndarray, ks: Sequence[int]
                        ) -> np.ndarray:
    """(n, len(ks)) mean Euclidean distance of each row to its k nearest reference rows, for
    each k (at most the reference rows less one); a row equal
    to a reference row (a training object scored again) skips that one match, so that the
    training objects are measured as a new object is. FOREST_ROWS rows at a time, one
    partial sort for every k."""
    ref = np.asarray(reference, np.float64)
    m = ref.shape[0]
    kk = np.array([max(1, min(int(k), m - 1)) for k in ks])  # one reference row: to it
    take = min(int(kk.max()) + 1, m)
    ref_sq = (ref * ref).sum(axis=1)
    out = np.empty((rows.shape[0], kk.size))
    for lo in range(0, rows.shape[0], FOREST_ROWS):
        x = np.asarray(rows[lo: lo + FOREST_ROWS], np.float64)
        d2 = (x * x).sum(axis=1)[:, None] + ref_sq[None, :] - 2.0 * (x @ ref.T)
        near = np.sqrt(np.maximum(np.partition(d2, take - 1, axis=1)[:, :take], 0.0))
        near.sort(axis=1)
        total = np.cumsum(near, axis=1)
        mean = total[:, kk - 1] / kk
        if take > kk.max():  # skip a match of distance 0, the row itself
            skipped = (total[:, kk] - near[:, :1]) / kk
            mean = np.where(near[:, :1] <= 1e-6, skipped, mean)
        out[lo: lo + x.shape[0]] = mean
    return out


def neighbour_distance(reference: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """(n,) `neighbour_distances` for one k."""
    return neighbour_distances(reference, rows, [k])[:, 0]


def build_object_autoencoder(dim: int, cfg: ObjectConfig, seed: int
                             ) -> tuple[keras.Model, keras.Model]:
    """(trainable features -> reconstruction, inference features -> [latent, reconstruction])
    sharing their layers."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((dim,), name="features")
    h = keras.layers.Dense(cfg.hidden, activation="relu", name="enc")(inp)
    z = keras.layers.Dense(cfg.latent, name="z")(h)
    h2 = keras.layers.Dense(cfg.hidden, activation="relu", name="dec")(z)
    out = keras.layers.Dense(dim, name="reconstruction")(h2)
    return keras.Model(inp, out, name="object_autoencoder"), \
        keras.Model(inp, [z, out], name="object_inference")


@dataclass
class ObjectAssessment:
    """What the object model says about objects: anomaly score, embedding, reconstruction
    error (model units), one row per object."""

    score: np.ndarray
    embedding: np.ndarray
    error: np.ndarray


def _average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n), the mean path length of an unsuccessful search in a binary tree of n points
    (Liu et al. 2008; scikit-learn's formula: 0 for n <= 1, 1 for n = 2)."""
    n = np.asarray(n, np.float64)
    out = np.zeros(n.shape)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


class ForestScorer:
    """A fitted scikit-learn IsolationForest's anomaly scores (`-score_samples`), every tree
    walked for every row at once: one gather a level over (trees, rows) instead of a joblib
    call a tree (~10x faster for a chunk of 256 objects; the same scores, tested). Rows that
    are not all finite, or a forest that saw a subset of the features, go to scikit-learn."""

    def __init__(self, forest: Any) -> None:
        self.forest = forest
        trees = [est.tree_ for est in forest.estimators_]
        first = np.concatenate([[0], np.cumsum([t.node_count for t in trees])[:-1]])
        # every node of every tree in flat arrays; a leaf is its own two children, so that a
        # row that reached one stays there while the rest walk on
        children, feature, threshold, value = [], [], [], []
        for t, base in zip(trees, first, strict=True):
            m = t.node_count
            own = np.arange(m)
            left, right = t.children_left, t.children_right
            children.append(np.stack([np.where(left < 0, own, left),
                                      np.where(right < 0, own, right)], axis=1) + base)
            feature.append(np.maximum(t.feature, 0))
            threshold.append(np.where(left < 0, np.inf, t.threshold))
            depth = np.ones(m)
            for node in range(m):  # children come after their parent
                if left[node] >= 0:
                    depth[left[node]] = depth[right[node]] = depth[node] + 1
            # scikit-learn's sum: the leaf's depth + c(points at the leaf) - 1
            value.append(depth + _average_path_length(t.n_node_samples) - 1.0)
        self.children = np.concatenate(children).ravel()  # node k: [2k] left, [2k+1] right
        self.feature, self.threshold = np.concatenate(feature), np.concatenate(threshold)
        self.value, self.roots = np.concatenate(value), first
        self.levels = max(t.max_depth for t in trees)
        # trees of every feature see the rows as they are (scikit-learn indexes the columns
        # only for trees of a subset)
        self.all_features = all(len(f) == forest.n_features_in_
                                for f in forest.estimators_features_)
        self.denominator = len(trees) * float(_average_path_length(
            np.array([forest.max_samples_]))[0])

    def scores(self, rows: np.ndarray) -> np.ndarray:
        """(n,) anomaly score of each row (higher: more anomalous)."""
        if not (self.all_features and np.isfinite(rows).all()):
            return np.asarray(-self.forest.score_samples(rows), np.float64)
        x = np.asarray(rows).astype(np.float32)  # what scikit-learn's trees compare
        n, d = x.shape
        depths = np.zeros(n)
        for lo in range(0, n, FOREST_ROWS):
            block = x[lo: lo + FOREST_ROWS].ravel()
            base = (np.arange(block.size // d) * d)[None, :]
            node = np.repeat(self.roots[:, None], base.size, axis=1)  # (trees, rows)
            for _ in range(self.levels):
                go_right = block.take(base + self.feature.take(node)) > \
                    self.threshold.take(node)  # left: x <= threshold
                node = self.children.take(2 * node + go_right)
            part = depths[lo: lo + FOREST_ROWS]
            for value in self.value.take(node):  # tree by tree, as scikit-learn adds
                part += value
        if self.denominator == 0:
            return np.ones(n)
        return 2 ** (-(depths / self.denominator))


class ObjectModel:
    """Features -> standardised -> autoencoder -> Isolation Forest + K nearest neighbours
    (module docstring)."""

    def __init__(self, bands: Sequence[str], cfg: ObjectConfig, center: np.ndarray,
                 scale: np.ndarray, network: keras.Model, reference: np.ndarray,
                 seed: int, score_kind: str = SCORES[0], neighbours: int | None = None
                 ) -> None:
        self.bands, self.cfg, self.seed = list(bands), cfg, int(seed)
        self.center, self.scale = np.asarray(center, float), np.asarray(scale, float)
        self.network = network
        self.names = feature_names(self.bands)
        self.period_search = "peaks"  # how the periods are found (features.PERIOD_SEARCHES)
        self.score_kind = score_kind  # how the object score is made (SCORES)
        self.fixed_k = neighbours  # one K as saved ("forest+neighbours"; session 26's: 20)
        self.ks = [NEIGHBOURS]  # the K of the local score (`fit_forest`)
        self.fit_forest(reference)

    def fit_forest(self, reference: np.ndarray) -> None:
        """The Isolation Forest on these reference rows, the rows the local score compares
        with, and both scores' scales on them (seeded: refitted the same at load); a
        forest-only score (`score_kind` "forest") needs neither."""
        from sklearn.ensemble import IsolationForest

        self.reference = np.asarray(reference, np.float64)
        self.forest = IsolationForest(n_estimators=self.cfg.trees, random_state=self.seed
                                      ).fit(self.reference)
        self.forest_scorer = ForestScorer(self.forest)
        if self.score_kind == "forest":
            return
        n = self.reference.shape[0]
        keep = np.sort(np.random.default_rng(self.seed).choice(
            n, NEIGHBOUR_REFERENCE, replace=False)) if n > NEIGHBOUR_REFERENCE else \
            np.arange(n)
        self.neighbours = self.reference[keep]
        n_ref = self.neighbours.shape[0]
        self.ks = [self.fixed_k or neighbour_count(n_ref)] \
            if self.score_kind == "forest+neighbours" else neighbour_ladder(n_ref)
        self.forest_scale = _robust_scale(self.forest_scorer.scores(self.neighbours))
        logs = self._log_distances(self.neighbours)
        # (len(ks), 2): each K's (median, IQR) over the training objects
        self.local_scales = np.array([_robust_scale(col) for col in logs.T])

    def _log_distances(self, rows: np.ndarray) -> np.ndarray:
        """(n, len(self.ks)) log mean distance to the K nearest reference rows, each K."""
        return np.log(neighbour_distances(self.neighbours, rows, self.ks) + 1e-12)

    def local_scores(self, rows: np.ndarray) -> np.ndarray:
        """The local score in robust units of the training objects': of each K's log mean
        distance, the largest (one K: that one)."""
        center, spread = self.local_scales.T
        return np.max((self._log_distances(rows) - center) / spread, axis=1)

    def scores(self, rows: np.ndarray) -> np.ndarray:
        """(n,) object scores of forest rows (module docstring): the forest's and the local
        score, each in robust units of the training objects', summed."""
        if self.score_kind == "forest":  # a bundle saved before session 26
            return self.forest_scorer.scores(rows)
        fm, fs = self.forest_scale
        return (self.forest_scorer.scores(rows) - fm) / fs + self.local_scores(rows)

    @property
    def neighbour_text(self) -> str:
        """The local score's K in words (`describe`)."""
        if len(self.ks) == 1:
            return f"the {self.ks[0]} nearest training objects"
        return (f"the nearest training objects at K = {', '.join(map(str, self.ks))} "
                "(the most outlying)")

    @property
    def latent_dim(self) -> int:
        return int(self.network.outputs[0].shape[-1])

    # ---- features ------------------------------------------------------------------------
    def feature_rows(self, curves: Sequence[LightCurve]) -> np.ndarray:
        """(objects, features) raw features of many objects, computed together."""
        return feature_matrix(curves, self.bands, self.cfg.periods,
                              search=self.period_search)[0]

    def standardize(self, raw: np.ndarray) -> np.ndarray:
        x = (np.atleast_2d(raw) - self.center) / self.scale
        return np.clip(np.where(np.isfinite(x), x, 0.0), -CLIP, CLIP).astype(np.float32)

    # ---- answers -------------------------------------------------------------------------
    def network_rows(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(embeddings, forest rows = [reconstruction, log error], errors) of standardised
        feature rows."""
        n = x.shape[0]
        size = -(-n // BATCH) * BATCH  # whole batches of one shape: traced once
        padded = np.zeros((size, x.shape[1]), np.float32)
        padded[:n] = x
        zs, rs = [], []
        for lo in range(0, size, BATCH):
            zb, rb = self.network.predict_on_batch(padded[lo: lo + BATCH])
            zs.append(np.asarray(zb, np.float64))
            rs.append(np.asarray(rb, np.float64))
        z, r = np.concatenate(zs)[:n], np.concatenate(rs)[:n]
        err = np.mean((r - x) ** 2, axis=1)
        return z, np.column_stack([r, np.log(err + 1e-12)]), err

    def assess(self, raw: np.ndarray) -> ObjectAssessment:
        """Scores, embeddings and errors of objects from their raw feature rows."""
        x = self.standardize(raw)
        z, rows, err = self.network_rows(x)
        return ObjectAssessment(self.scores(rows), z, err)

    # ---- training ------------------------------------------------------------------------
    @classmethod
    def fit(cls, train: Sequence[LightCurve], validation: Sequence[LightCurve],
            bands: Sequence[str], cfg: ObjectConfig, seed: int) -> tuple[ObjectModel,
                                                                     dict[str, float]]:
        """Fit on the training objects (early stopping on the validation objects); returns
        the model and its metrics (losses, held-out reconstruction R^2)."""
        usable = [c for c in train if c.mask.any()]
        if len(usable) < MIN_OBJECTS:
            raise LightCurveError(
                f"the object model ranks objects among many: {len(usable)} training "
                f"object(s) is too few (at least {MIN_OBJECTS})")
        val = [c for c in validation if c.mask.any()]
        return cls.fit_features(feature_matrix(usable, bands, cfg.periods)[0],
                                feature_matrix(val, bands, cfg.periods)[0] if val else None,
                                bands, cfg, seed)

    @classmethod
    def fit_features(cls, raw: np.ndarray, raw_validation: np.ndarray | None,
                     bands: Sequence[str], cfg: ObjectConfig, seed: int
                     ) -> tuple[ObjectModel, dict[str, float]]:
        """`fit` from the objects' raw feature rows (`feature_matrix`); without validation
        rows, the first tenth of the training ones stop the training."""
        center, scale = _standardizer(raw)
        clip = lambda a: np.clip(np.where(np.isfinite(a), a, 0.0), -CLIP, CLIP  # noqa: E731
                                 ).astype(np.float32)
        x = clip((raw - center) / scale)
        xv = clip((raw_validation - center) / scale) if raw_validation is not None \
            and len(raw_validation) else x[: max(1, x.shape[0] // 10)]
        train_net, infer = build_object_autoencoder(x.shape[1], cfg, seed)
        train_net.compile(keras.optimizers.Adam(cfg.learning_rate), "mse")
        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience,
                                             restore_best_weights=True)
        hist = train_net.fit(x, x, validation_data=(xv, xv), epochs=cfg.epochs,
                             batch_size=32, shuffle=True, verbose=0, callbacks=[stop])
        model = cls(bands, cfg, center, scale, infer, np.zeros((1, x.shape[1] + 1)), seed)
        _z, rows, _err = model.network_rows(x)
        model.fit_forest(rows)
        _zv, _rv, errv = model.network_rows(xv)
        var = float(np.mean(np.var(xv, axis=0))) if xv.shape[0] > 1 else float("nan")
        metrics = {"objects.n_features": float(x.shape[1]),
                   "objects.n_train": float(x.shape[0]),
                   "objects.epochs_run": float(len(hist.history["loss"])),
                   "objects.val_loss": float(np.min(hist.history["val_loss"])),
                   "objects.val_r2": 1.0 - float(np.mean(errv)) / var if var > 0
                   else float("nan")}
        return model, metrics

    # ---- the bundle ----------------------------------------------------------------------
    def save(self, root: Path) -> dict[str, Any]:
        self.network.save(root / OBJECTS_MODEL_FILE)
        with open(root / OBJECTS_ARRAYS_FILE, "wb") as fh:
            np.savez(fh, center=self.center, scale=self.scale, reference=self.reference)
        state = {"bands": self.bands, "seed": self.seed, "features": self.names,
                 "period_search": self.period_search, "score": self.score_kind}
        if self.score_kind == "forest+neighbours":
            state["neighbours"] = self.ks[0]
        return state

    @classmethod
    def load(cls, root: Path, state: dict[str, Any], cfg: ObjectConfig) -> ObjectModel:
        try:
            net = keras.saving.load_model(root / OBJECTS_MODEL_FILE, compile=False,
                                          safe_mode=True)
        except Exception as exc:  # keras raises many types for a bad archive
            raise BundleError(root / OBJECTS_MODEL_FILE, f"cannot be loaded: {exc}") from None
        try:
            with np.load(root / OBJECTS_ARRAYS_FILE, allow_pickle=False) as arr:
                center, scale, ref = arr["center"], arr["scale"], arr["reference"]
            # saved before session 26: its calibration holds the forest's scores alone
            kind = str(state.get("score", "forest"))
            if kind not in SCORES:
                raise BundleError(root / OBJECTS_ARRAYS_FILE, f"unknown object score {kind!r}")
            # one K; saved in session 26: K was 20 whatever the number of reference rows
            k = int(state.get("neighbours", NEIGHBOURS))
            if k < 1:
                raise BundleError(root / OBJECTS_ARRAYS_FILE, f"invalid neighbour count {k}")
            model = cls(state["bands"], cfg, center, scale, net, ref, int(state["seed"]), kind,
                        k)
        except (KeyError, ValueError, OSError) as exc:
            raise BundleError(root / OBJECTS_ARRAYS_FILE, f"invalid content: {exc}") from None
        # saved before session 19: its features were fitted with the grid search
        model.period_search = str(state.get("period_search", "grid"))
        if model.period_search not in PERIOD_SEARCHES:
            raise BundleError(root / OBJECTS_ARRAYS_FILE,
                              f"unknown period search {model.period_search!r}")
        if model.names != list(state.get("features", model.names)):
            raise BundleError(root / OBJECTS_ARRAYS_FILE,
                              "its features are not the ones this lcad computes")
        return model
