"""The accelerators the Keras backend sees."""

from __future__ import annotations

import keras


def devices() -> list[str]:
    """Accelerators the Keras backend sees, or ["cpu"]."""
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            return [f"gpu:{i}" for i in range(len(gpus))] or ["cpu"]
        if backend == "jax":
            import jax

            accel = [d for d in jax.devices() if d.platform != "cpu"]
            return [f"gpu:{i}" for i in range(len(accel))] or ["cpu"]
        if backend == "torch":
            import torch

            return [f"cuda:{i}" for i in range(torch.cuda.device_count())] or ["cpu"]
    except Exception:  # a broken driver must not stop training
        return ["cpu"]
    return ["cpu"]
