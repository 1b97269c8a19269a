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
