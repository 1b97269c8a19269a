"""Uncertainty of scores (issue 23): N random passes of the network, their mean and spread."""

import dataclasses

import numpy as np
import pytest

from lcad.models.autoencoder import build_autoencoder
from lcad.models.config import ModelConfig
from lcad.models.errors import LcadError
from lcad.models.lightcurve import LightCurve
from lcad.models.uncertainty import NoUncertaintyError, StochasticNetwork, sampling_sources
from tests.conftest import SYNTH, TINY_CONFIG


def deterministic(det):
    """`det` with a plain network without dropout (what the check needs: the sources)."""
    cfg = ModelConfig(hidden=[8], latent=det.latent_dim, variant="plain", dropout=0.0)
    return dataclasses.replace(det, model=build_autoencoder(det.input_dim, cfg))


@pytest.fixture(scope="module")
def dropout_detector():
    from lcad.models.config import DetectorConfig
    from lcad.models.fit import fit_detector
    from lcad.models.synthetic import synthetic_dataset

    cfg = DetectorConfig.from_dict({**TINY_CONFIG, "model": {
        **TINY_CONFIG["model"], "variant": "plain", "dropout": 0.1}})
    curves, _ = synthetic_dataset(30, seed=1, **SYNTH)
    det, _ = fit_detector(curves, cfg)
    return det


def test_the_sources_of_randomness_are_named():
    base = dict(hidden=[16], latent=4)
    assert sampling_sources(build_autoencoder(8, ModelConfig(**base, variant="plain"))) == []
    assert sampling_sources(build_autoencoder(
        8, ModelConfig(**base, variant="plain", dropout=0.2))) == ["dropout"]
    assert sampling_sources(build_autoencoder(
        8, ModelConfig(**base, variant="variational", dropout=0.2))) == ["dropout", "latent"]
    with pytest.raises(NoUncertaintyError, match=r"model\.dropout=0\.1"):
        StochasticNetwork(build_autoencoder(8, ModelConfig(**base, variant="plain")))


def test_random_passes_differ_and_average_to_the_deterministic_one():
    model = build_autoencoder(8, ModelConfig(hidden=[32], latent=4, variant="plain",
                                             dropout=0.1, batch_norm=True))
    x = np.random.default_rng(0).normal(size=(64, 16)).astype(np.float32)
    net = StochasticNetwork(model, seed=0)
    passes = np.stack([net(x)[1] for _ in range(200)])
    assert np.abs(passes[0] - passes[1]).max() > 1e-3  # masks differ between passes
    from lcad.models.autoencoder import inference_model

    _, r = inference_model(model).predict_on_batch(x)
    # inverted dropout: the passes average to the deterministic network (BatchNorm in
    # inference mode in both), within the Monte-Carlo error of 200 passes
    err = np.abs(passes.mean(axis=0) - np.asarray(r))
    assert err.mean() < 4 * passes.std(axis=0).mean() / np.sqrt(200) + 1e-4


def test_scores_with_samples_keep_the_deterministic_answer_and_add_a_spread(
        dropout_detector):
    from lcad.models.synthetic import synthetic_dataset

    curves, _ = synthetic_dataset(3, seed=7, **SYNTH)
    plain = dropout_detector.score(curves)
    sampled = dropout_detector.score(curves, samples=8, seed=1)
    for a, b in zip(plain, sampled, strict=True):
        assert a.uncertainty is None
        assert b.score == pytest.approx(a.score)  # the answer itself does not move
        np.testing.assert_allclose(b.point_score, a.point_score)
        u = b.uncertainty
        assert u.samples == 8 and u.sources == ["dropout"]
        assert u.point_score_std.shape == b.point_score.shape == u.point_score_mean.shape
        assert u.reconstruction_std.shape == b.reconstruction.shape
        assert np.isfinite(u.score_std) and u.score_std > 0
        assert np.nanmean(u.point_score_std) > 0
        frame = b.points_frame()
        assert {"score_mean", "score_std"} <= set(frame.columns)
        assert {"score_mean", "score_std"} <= set(b.summary())
    again = dropout_detector.score(curves, samples=8, seed=1)
    assert again[0].uncertainty.score_std == pytest.approx(sampled[0].uncertainty.score_std)
    with pytest.raises(LcadError, match="between 2 and 200"):
        dropout_detector.score(curves, samples=1)


def test_the_spread_is_larger_on_curves_unlike_the_training_data(dropout_detector):
    """Trained on sinusoids: eclipsing and RR Lyrae shapes at other periods spread their
    point scores more over Monte-Carlo dropout passes than held-out sinusoids do."""
    from lcad.models.synthetic import synthetic_dataset

    normal, _ = synthetic_dataset(6, seed=7, **SYNTH)
    unlike, _ = synthetic_dataset(6, seed=7, n_points=800, kinds=("eclipsing", "rrlyrae"),
                                  period_range=(0.1, 0.2))

    def spread(curves: list[LightCurve]) -> float:
        res = dropout_detector.score(curves, samples=16, seed=0)
        return float(np.nanmean(np.concatenate([c.uncertainty.point_score_std for c in res])))

    assert spread(unlike) > 2 * spread(normal)


def test_a_model_without_randomness_says_so(tiny_detector):
    det = deterministic(tiny_detector)
    curve = LightCurve.from_arrays("x", np.arange(300) * 0.02, np.sin(np.arange(300) / 5.0))
    with pytest.raises(NoUncertaintyError, match="no dropout and is not variational"):
        det.score([curve], samples=5)
