import keras
import numpy as np
import pytest

from lcad.models.autoencoder import build_autoencoder, inference_model, make_loss, make_optimizer
from lcad.models.config import ModelConfig, TrainConfig

D = 12


def _data(rng, n=256):
    t = np.linspace(0, 1, D)
    x = np.sin(2 * np.pi * (t[None, :] + rng.uniform(size=(n, 1)))).astype("float32")
    mask = (rng.uniform(size=(n, D)) > 0.1).astype("float32")
    x = x * mask
    err = np.full((n, D), 0.1, "float32")
    return np.concatenate([x, mask], 1), np.concatenate([x, mask, err], 1)


@pytest.mark.parametrize(
    "model_kw",
    [
        {},
        {"variant": "denoising", "activation": "leaky_relu", "dropout": 0.1},
        {"variant": "variational", "activation": "elu", "batch_norm": True},
        {"loss": "mae", "activation": "selu", "initializer": "he", "l1": 1e-5},
        {"loss": "huber", "activation": "gelu", "l2": 1e-4},
        {"loss": "chi2", "activation": "tanh"},
        {"loss": "bce", "output_activation": "sigmoid", "activation": "sigmoid"},
    ],
)
def test_every_variant_trains_and_exposes_encoder_decoder(model_kw, rng):
    cfg = ModelConfig(hidden=[16], latent=3, **model_kw)
    x, y = _data(rng)
    if cfg.loss == "bce":
        x[:, :D] = (x[:, :D] + 1) / 2
        y[:, :D] = x[:, :D]
    model = build_autoencoder(D, cfg)
    model.compile(optimizer=make_optimizer(TrainConfig(learning_rate=1e-2), 8),
                  loss=make_loss(D, cfg))
    hist = model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert model.get_layer("encoder") is not None and model.get_layer("decoder") is not None
    z, r = inference_model(model).predict_on_batch(x[:5])
    assert z.shape == (5, 3) and r.shape == (5, D)


@pytest.mark.parametrize("opt", ["adam", "adamw", "sgd", "rmsprop", "adadelta"])
@pytest.mark.parametrize("schedule", ["constant", "exponential", "cosine"])
def test_optimizers_and_schedules(opt, schedule):
    o = make_optimizer(TrainConfig(optimizer=opt, schedule=schedule), 10)
    assert isinstance(o, keras.optimizers.Optimizer)


def test_masked_cells_do_not_count():
    cfg = ModelConfig(latent=2)
    loss = make_loss(4, cfg)
    y_true = np.array([[1, 1, 1, 100, 1, 1, 1, 0, 1, 1, 1, 1]], "float32")
    y_pred = np.array([[1, 1, 0, -50]], "float32")
    assert float(keras.ops.convert_to_numpy(loss(y_true, y_pred))) == pytest.approx(1 / 3)


def test_segment_offsets_shift_one_stretch_of_a_share_of_training_windows_only(tmp_path):
    """`model.segment_offsets`: in training, about `rate` of the windows get one constant
    offset over a stretch of 4 or more points, the same stretch in every band, scaled to
    each band's noise, observed cells only; at inference the input passes unchanged; the
    layer is saved and loaded with the network."""
    from lcad.models.autoencoder import SegmentOffsets

    rng = np.random.default_rng(0)
    window, bands = 48, 2
    values = rng.normal(size=(4000, bands, window)).astype("float32")
    values[:, 1] *= 3.0  # the second band three times as noisy
    mask = np.ones_like(values)
    mask[:, :, 10:14] = 0.0
    values *= mask
    inp = np.concatenate([values.reshape(4000, -1), mask.reshape(4000, -1)], axis=1)
    layer = SegmentOffsets(0.5, window, seed=1)
    assert np.array_equal(np.asarray(layer(inp, training=False)), inp)
    out = np.asarray(layer(inp, training=True))
    assert np.array_equal(out[:, bands * window:], inp[:, bands * window:])  # the mask
    shift = (out[:, :bands * window] - inp[:, :bands * window]).reshape(4000, bands, window)
    changed = np.abs(shift).max(axis=(1, 2)) > 0
    assert 0.45 < changed.mean() < 0.55
    assert (shift[:, :, 10:14] == 0).all()  # cells without data stay 0
    on = shift[changed]
    stretch = on[:, 0] != 0
    assert ((on[:, 1] != 0) == stretch).all()  # the same stretch in both bands
    for row, where in zip(on[:200], stretch[:200], strict=True):
        idx = np.flatnonzero(where)
        assert np.ptp(row[0, idx]) < 1e-4  # one constant
        assert np.all(np.diff(idx[(idx < 10) | (idx >= 14)]) <= 5)  # one stretch
    ratio = np.median(np.abs(on[:, 1]).max(axis=1) / np.abs(on[:, 0]).max(axis=1))
    assert 2.5 < ratio < 3.5  # each band's own noise
    clear = [np.flatnonzero(w) for w in stretch]
    clear = [i for i in clear if i.min() > 14 or i.max() < 9]  # not beside the masked cells
    assert min(i.size for i in clear) >= 4  # 4 or more points
    amp = np.abs(on[:, 0]).max(axis=1)
    assert 0.5 < np.median(amp) < 3.0  # 0.7-2.8 noise sigmas, sigma estimated per window

    cfg = ModelConfig(hidden=[16], latent=3)
    assert cfg.segment_offsets == 0.5
    with_layer = build_autoencoder(bands * window, cfg, window=window)
    assert with_layer.get_layer("encoder").get_layer("segment_offsets").rate == 0.5
    for model in (build_autoencoder(bands * window, cfg),  # whole-curve mode: no window
                  build_autoencoder(bands * window, cfg.model_copy(
                      update={"segment_offsets": 0.0}), window=window)):
        names = [x.name for x in model.get_layer("encoder").layers]
        assert "segment_offsets" not in names
    with_layer.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", compile=False, safe_mode=True)
    assert again.get_layer("encoder").get_layer("segment_offsets").window == window
