"""Per-epoch checkpoints: written off the training thread, restored exactly by --resume."""

from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import pytest

from lcad.models.autoencoder import build_autoencoder, make_loss, make_optimizer
from lcad.models.config import DetectorConfig
from lcad.training.train import Checkpoint, load_checkpoint

CFG = DetectorConfig.from_dict({"preprocess": {"window": 8}, "model": {"hidden": [16],
                                                                        "latent": 2}})


def _model():
    model = build_autoencoder(8, CFG.model, seed=0)
    model.compile(optimizer=make_optimizer(CFG.train, 4), loss=make_loss(8, CFG.model))
    return model


def _data():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(64, 8)), np.ones((64, 8))], axis=1).astype("float32")
    return x, np.concatenate([x, np.ones((64, 8), "float32")], axis=1)


def _values(model):
    return [keras.ops.convert_to_numpy(v)
            for v in [*model.variables, *model.optimizer.variables]]


def test_checkpoint_restores_the_weights_and_optimizer_state_of_the_last_epoch(tmp_path):
    x, y = _data()
    model, history = _model(), []
    state = {"config": CFG.model_dump(mode="json"), "run_id": None}
    with ThreadPoolExecutor(1) as writer:
        model.fit(x, y, epochs=3, batch_size=16, verbose=0,
                  callbacks=[Checkpoint(tmp_path, history, state, writer)])
    restored, saved = load_checkpoint(tmp_path, CFG)
    assert saved["epoch"] == 2 and [h["epoch"] for h in saved["history"]] == [0, 1, 2]
    before, after = _values(model), _values(restored)
    assert len(before) == len(after)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    # the restored optimizer goes on from where it stopped, not from step 0
    assert int(keras.ops.convert_to_numpy(restored.optimizer.iterations)) == 3 * 4


def test_checkpoint_of_another_config_is_refused(tmp_path):
    x, y = _data()
    with ThreadPoolExecutor(1) as writer:
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[
            Checkpoint(tmp_path, [], {"config": CFG.model_dump(mode="json")}, writer)])
    other = CFG.with_overrides(["model.latent=3"])
    with pytest.raises(ValueError, match="another config"):
        load_checkpoint(tmp_path, other)


def test_a_failed_checkpoint_write_stops_training(tmp_path):
    x, y = _data()
    ckpt = tmp_path / "ckpt"
    callback = Checkpoint(ckpt, [], {}, ThreadPoolExecutor(1))
    original = callback._write

    def failing(arrays, state):
        original(arrays, state)
        raise OSError("No space left on device")

    callback._write = failing
    with pytest.raises(OSError, match="No space left"):
        _model().fit(x, y, epochs=5, verbose=0, callbacks=[callback])
    assert len(callback.history) < 5
