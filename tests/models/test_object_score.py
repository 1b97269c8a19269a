"""The object score (models/objects.py): an Isolation Forest and the distance to the nearest
training objects over the autoencoder's rows, each on the training objects' robust scale."""

from __future__ import annotations

import numpy as np
import pytest

from lcad.models.config import ObjectConfig
from lcad.models.features import feature_matrix
from lcad.models.objects import (
    NEIGHBOURS,
    ObjectModel,
    neighbour_count,
    neighbour_distance,
    neighbour_distances,
    neighbour_ladder,
)
from lcad.training.evaluate import ranking_metrics

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def test_the_neighbour_distance_is_the_brute_force_one_and_a_reference_row_skips_itself(
) -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(300, 7))
    new = 2 * rng.normal(size=(600, 7))  # more rows than one block
    full = np.sqrt(((new[:, None, :] - ref[None, :, :]) ** 2).sum(-1))
    want = np.sort(full, axis=1)[:, :NEIGHBOURS].mean(axis=1)
    np.testing.assert_allclose(neighbour_distance(ref, new, NEIGHBOURS), want, rtol=1e-9)
    # a training object scored again is measured as a new one: without its own row
    own = np.sqrt(((ref[:, None, :] - ref[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(own, np.inf)
    np.testing.assert_allclose(neighbour_distance(ref, ref, 5),
                               np.sort(own, axis=1)[:, :5].mean(axis=1), rtol=1e-9)
    # fewer reference rows than neighbours, and a single one
    assert neighbour_distance(ref[:3], new[:4], 20).shape == (4,)
    np.testing.assert_allclose(neighbour_distance(ref[:1], new[:4], 20),
                               np.linalg.norm(new[:4] - ref[0], axis=1), rtol=1e-9)
    # several K in one pass: each column the one K's
    ks = [5, 20, 80, 299, 400]
    many, again = neighbour_distances(ref, new, ks), neighbour_distances(ref, ref, ks)
    assert many.shape == (600, 5)
    for j, k in enumerate(ks):
        np.testing.assert_allclose(many[:, j], np.sort(full, axis=1)[:, :min(k, 299)].mean(
            axis=1), rtol=1e-9)  # at most the reference rows less one, as for a training row
        np.testing.assert_allclose(again[:, j], np.sort(own, axis=1)[:, :min(k, 299)].mean(
            axis=1), rtol=1e-9)


def test_the_local_part_finds_a_small_group_between_large_ones() -> None:
    """Blazars (10) among AGN, supernovae and dwarf novae (60 each): a group between the
    others in feature space, where a forest cuts through the gap it sits in. Measured on
    this draw and split: the forest alone 0.71 ROC-AUC, the local score 0.89, their sum (the
    object score) 0.82 (docs/quality-log.md, session 26). The score is the forest's plus the
    local one, each in the training objects' robust units."""
    from bench.objects import transients_task

    curves, y = transients_task(0, "blazar")
    raw = feature_matrix(curves, ["g", "r"])[0]
    order = np.random.default_rng(0).permutation(len(curves))
    train, val = order[: int(0.7 * len(order))], order[int(0.7 * len(order)):]
    model, _ = ObjectModel.fit_features(raw[train], raw[val], ["g", "r"], ObjectConfig(), 0)
    _z, rows, _err = model.network_rows(model.standardize(raw))
    forest, local = model.forest_scorer.scores(rows), model.local_scores(rows)
    fm, fs = model.forest_scale
    score = model.assess(raw).score
    np.testing.assert_allclose(score, (forest - fm) / fs + local, rtol=1e-12)
    roc = {name: ranking_metrics(y, s)["roc_auc"] for name, s in
           (("forest", forest), ("local", local), ("score", score))}
    assert roc["score"] > roc["forest"] + 0.05, roc
    # the scales are the training objects' own: their scores sit around 0
    train_scores = model.scores(model.reference)
    assert abs(float(np.median(train_scores))) < 1.0


def test_a_bundle_keeps_the_object_score_its_calibration_was_made_with(tmp_path) -> None:
    """A new object model saves and reloads the sum (the same scores after the load: the
    forest, the neighbour rows and the scales are rebuilt from the stored rows and seed); one
    saved before session 26 (no `score` in its state) scores with its forest alone, as its
    calibration objects were scored; an unknown kind is a bundle error that names it."""
    from lcad.models.errors import BundleError

    rng = np.random.default_rng(1)
    raw = rng.normal(size=(120, 21))
    model, _ = ObjectModel.fit_features(raw[:90], raw[90:], ["g", "r"],
                                        ObjectConfig(epochs=3), seed=2)
    state = model.save(tmp_path)
    assert state["score"] == "forest+neighbour-ladder" and "neighbours" not in state
    again = ObjectModel.load(tmp_path, state, ObjectConfig())
    np.testing.assert_array_equal(again.assess(raw).score, model.assess(raw).score)
    state.pop("score")
    old = ObjectModel.load(tmp_path, state, ObjectConfig())
    _z, rows, _e = old.network_rows(old.standardize(raw))
    np.testing.assert_array_equal(old.assess(raw).score, old.forest_scorer.scores(rows))
    assert not np.array_equal(old.assess(raw).score, model.assess(raw).score)
    assert not hasattr(old, "local_scales")  # its load skips the neighbours' scales
    state["score"] = "median"
    with pytest.raises(BundleError, match="unknown object score 'median'"):
        ObjectModel.load(tmp_path, state, ObjectConfig())


def test_the_local_part_is_the_most_outlying_k_of_a_ladder_so_a_large_rare_group_stands_out(
) -> None:
    """K = 20, 40, 80, ... below half the reference rows, and the local score is the largest
    of each K's robust score. A tight rare group of 100 among 600 (a sixth; the RR Lyrae c
    types are a fifth of the stars): with K = 20 or a tenth (60) each one's nearest
    neighbours are its own kind and it looks ordinary; K = 160 reaches the others. Every K's
    column is on the training objects' robust scale."""
    assert [neighbour_ladder(n) for n in (30, 80, 81, 169, 600, 4096)] == [
        [20], [20], [20, 40], [20, 40, 80], [20, 40, 80, 160],
        [20, 40, 80, 160, 320, 640, 1280]]
    rng = np.random.default_rng(5)
    common = rng.normal(size=(500, 6))
    rare = 4.0 + 0.2 * rng.normal(size=(100, 6))
    rows, y = np.vstack([common, rare]), np.r_[np.zeros(500), np.ones(100)].astype(bool)
    roc = {k: ranking_metrics(y, neighbour_distance(rows, rows, k))["roc_auc"]
           for k in (20, 60, 160)}
    assert roc[20] < 0.2 and roc[60] < 0.2 and roc[160] > 0.8, roc  # measured 0.0, 0.0, 0.99
    model, _ = ObjectModel.fit_features(rng.normal(size=(60, 21)), None, ["g", "r"],
                                        ObjectConfig(epochs=1), seed=1)
    model.fit_forest(np.column_stack([rows, rows]))
    assert model.ks == [20, 40, 80, 160]
    local = model.local_scores(np.column_stack([rows, rows]))
    assert ranking_metrics(y, local)["roc_auc"] > 0.8
    logs = np.log(neighbour_distances(model.neighbours, model.neighbours, model.ks) + 1e-12)
    for j, (center, spread) in enumerate(model.local_scales):
        q75, q25 = np.percentile(logs[:, j], [75, 25])
        assert (center, spread) == pytest.approx((np.median(logs[:, j]), q75 - q25))
    np.testing.assert_allclose(local[:600], np.max(
        (logs - [c for c, _ in model.local_scales]) / [s for _, s in model.local_scales],
        axis=1), rtol=1e-12)


def test_a_bundle_of_one_k_keeps_it(tmp_path) -> None:
    """Bundles saved in sessions 26-32 scored with one K: 20 or a tenth of the reference
    rows, whichever is more, saved in the state; their calibration was scored so, and they
    keep it. One saved in session 26 (no K in its state) keeps 20; a K below 1 is a bundle
    error."""
    from lcad.models.errors import BundleError

    assert [neighbour_count(n) for n in (50, 200, 201, 600, 4096)] == [20, 20, 21, 60, 410]
    rng = np.random.default_rng(5)
    raw = rng.normal(size=(700, 21))
    model, _ = ObjectModel.fit_features(raw[:600], raw[600:], ["g", "r"],
                                        ObjectConfig(epochs=2), seed=1)
    state = model.save(tmp_path)
    state.update(score="forest+neighbours", neighbours=60)
    one = ObjectModel.load(tmp_path, state, ObjectConfig())
    assert one.ks == [60]
    _z, rows, _e = one.network_rows(one.standardize(raw))
    (lm, ls), = one.local_scales
    np.testing.assert_allclose(one.local_scores(rows), (np.log(
        neighbour_distance(one.neighbours, rows, 60) + 1e-12) - lm) / ls, rtol=1e-12)
    assert not np.allclose(one.assess(raw).score, model.assess(raw).score)
    state["neighbours"] = 0
    with pytest.raises(BundleError, match="invalid neighbour count 0"):
        ObjectModel.load(tmp_path, state, ObjectConfig())
    state.pop("neighbours")
    older = ObjectModel.load(tmp_path, state, ObjectConfig())
    assert older.ks == [NEIGHBOURS]
