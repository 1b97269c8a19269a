"""Dense autoencoder builders (plain, denoising, variational) and their masked losses.

Pure Keras 3 (`keras.ops`): runs unchanged under the tensorflow, jax and torch backends.
The network sees `concat(values, mask)` (2*D inputs, masked values set to 0) and returns
D reconstructed values; the variational variant also returns z_mean and z_log_var.
Targets are `concat(values, mask, errors)` (3*D) so every loss can ignore masked cells.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import keras
from keras import layers, ops

from lcad.models.config import ModelConfig, TrainConfig

INITIALIZERS = {"glorot": "glorot_uniform", "he": "he_normal"}


class _RetracingNotice(logging.Filter):
    """Drops TensorFlow's "N out of the last M calls ... triggered tf.function retracing"
    notice: lcad pads every batch to a few sizes (`detector.bucket_size`), and a notebook that
    fits and scores several detectors calls each new network's predict function once per
    size, which TensorFlow counts as retracing; its advice (a fault in the caller's loop) does
    not apply. TensorFlow's other messages pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


if not any(isinstance(f, _RetracingNotice) for f in logging.getLogger("tensorflow").filters):
    logging.getLogger("tensorflow").addFilter(_RetracingNotice())


@keras.saving.register_keras_serializable(package="lcad")
class MaskedNoise(layers.Layer):
    """Gaussian noise on the observed values (first half of the input), in training only."""

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.stddev = float(stddev)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if not training or self.stddev == 0:
            return inputs
        d = ops.shape(inputs)[-1] // 2
        values, mask = inputs[:, :d], inputs[:, d:]
        noise = keras.random.normal(ops.shape(values), stddev=self.stddev,
                                    seed=self.seed_generator)
        return ops.concatenate([values + noise * mask, mask], axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


@keras.saving.register_keras_serializable(package="lcad")
class SegmentOffsets(layers.Layer):
    """In training only: a `rate` share of the windows get a constant offset over a random
    stretch of `min_length` or more of their `window` points (the same stretch in every
    band), of 0.7 to 2.8 times each band's noise in the window (from its second differences),
    either sign. The loss compares the reconstruction with the window without it, so the
    network learns not to follow an offset its training data do not hold: on a star with
    a large slow variation, a plateau or a bump would otherwise be reconstructed as more of
    that variation and leave no residual to score (denoising with a structured corruption;
    docs/quality-log.md, session 30)."""

    def __init__(self, rate: float, window: int, min_length: int = 4,
                 amplitude: tuple[float, float] = (0.7, 2.8), seed: int | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.window = int(window)
        self.min_length = min(int(min_length), self.window)
        self.amplitude = (float(amplitude[0]), float(amplitude[1]))
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if not training or self.rate == 0:
            return inputs
        d = ops.shape(inputs)[-1] // 2
        w = self.window
        values = ops.reshape(inputs[:, :d], (-1, d // w, w))
        mask = ops.reshape(inputs[:, d:], (-1, d // w, w))
        both = mask[..., 2:] * mask[..., 1:-1] * mask[..., :-2]
        second = (values[..., 2:] - 2.0 * values[..., 1:-1] + values[..., :-2]) * both
        # mean |second difference| = 2 sqrt(3 / pi) sigma for white noise
        sigma = (ops.sum(ops.abs(second), axis=-1, keepdims=True)
                 / ops.maximum(ops.sum(both, axis=-1, keepdims=True), 1.0)
                 / (2.0 * math.sqrt(3.0 / math.pi)))
        u = keras.random.uniform((ops.shape(inputs)[0], 1, 5), seed=self.seed_generator)
        on = ops.cast(u[..., :1] < self.rate, values.dtype)
        length = self.min_length + u[..., 1:2] * (w - self.min_length)
        start = u[..., 2:3] * (w - length)
        sign = ops.where(u[..., 3:4] < 0.5, -1.0, 1.0)
        lo, hi = self.amplitude
        t = ops.cast(ops.arange(w), values.dtype)
        stretch = ops.cast((t >= start) & (t < start + length), values.dtype)
        shifted = values + on * sign * (lo + u[..., 4:5] * (hi - lo)) * sigma * stretch * mask
        return ops.concatenate([ops.reshape(shifted, (-1, d)), inputs[:, d:]], axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "window": self.window,
                "min_length": self.min_length, "amplitude": list(self.amplitude),
                "seed": self.seed}


@keras.saving.register_keras_serializable(package="lcad")
class Sampling(layers.Layer):
    """Reparameterisation z = mean + exp(log_var / 2) * eps in training; the mean otherwise."""

    def __init__(self, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        z_mean, z_log_var = inputs
        if not training:
            return z_mean
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="lcad")
class MaskedReconstructionLoss(keras.losses.Loss):
    """Masked mse / mae / huber / bce / chi2 per window, plus the KL term for the VAE."""

    def __init__(self, kind: str = "mse", dim: int = 1, latent: int = 0,
                 kl_weight: float = 0.0, delta: float = 1.0, **kwargs: Any):
        kwargs.setdefault("name", f"masked_{kind}")
        super().__init__(**kwargs)
        self.kind, self.dim, self.latent = kind, int(dim), int(latent)
        self.kl_weight, self.delta = float(kl_weight), float(delta)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        d = self.dim
        x, m, e = y_true[:, :d], y_true[:, d: 2 * d], y_true[:, 2 * d: 3 * d]
        r = y_pred[:, :d]
        diff = (r - x) * m
        count = ops.maximum(ops.sum(m, axis=-1), 1.0)
        if self.kind == "mse":
            cell = ops.square(diff)
        elif self.kind == "mae":
            cell = ops.abs(diff)
        elif self.kind == "huber":
            a = ops.abs(diff)
            linear = self.delta * (a - 0.5 * self.delta)
            cell = ops.where(a <= self.delta, 0.5 * ops.square(a), linear)
        elif self.kind == "chi2":
            cell = ops.square(diff / e)
        elif self.kind == "bce":
            p = ops.clip(r, 1e-6, 1.0 - 1e-6)
            cell = -(x * ops.log(p) + (1.0 - x) * ops.log(1.0 - p)) * m
        else:
            raise ValueError(f"unknown loss {self.kind!r}")
        loss = ops.sum(cell, axis=-1) / count
        if self.latent and self.kl_weight:
            zm = y_pred[:, d: d + self.latent]
            zl = y_pred[:, d + self.latent: d + 2 * self.latent]
            kl = -0.5 * ops.sum(1.0 + zl - ops.square(zm) - ops.exp(zl), axis=-1)
            loss = loss + self.kl_weight * kl
        return loss

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "kind": self.kind, "dim": self.dim,
                "latent": self.latent, "kl_weight": self.kl_weight, "delta": self.delta}


@keras.saving.register_keras_serializable(package="lcad")
class ReconstructionLoss(keras.metrics.Mean):
    """The reconstruction term of the loss alone, as a metric (`recon_loss`,
    `val_recon_loss`): the variational loss adds its KL term, so `loss` compares different
    objectives across variants; this one is the same quantity for every model."""

    def __init__(self, kind: str = "mse", dim: int = 1, name: str = "recon_loss",
                 **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.kind, self.dim = kind, int(dim)
        self._loss = MaskedReconstructionLoss(kind, dim)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        return super().update_state(self._loss.call(y_true, y_pred), sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "kind": self.kind, "dim": self.dim}


def _dense_block(x: Any, units: int, cfg: ModelConfig, name: str) -> Any:
    reg = keras.regularizers.L1L2(l1=cfg.l1, l2=cfg.l2) if (cfg.l1 or cfg.l2) else None
    x = layers.Dense(units, kernel_initializer=INITIALIZERS[cfg.initializer],
                     kernel_regularizer=reg, name=f"{name}_dense")(x)
    if cfg.batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = layers.Activation(cfg.activation, name=f"{name}_act")(x)
    if cfg.dropout:
        x = layers.Dropout(cfg.dropout, name=f"{name}_dropout")(x)
    return x


def build_autoencoder(dim: int, cfg: ModelConfig, seed: int | None = 0,
                      window: int | None = None) -> keras.Model:
    """The training model; its sub-models are reachable as `encoder` and `decoder` layers.
    With `window` (sliding-window mode: the points of one band in a window) and
    `cfg.segment_offsets` > 0, training windows get synthetic offsets (`SegmentOffsets`)."""
    inp = keras.Input((2 * dim,), name="values_and_mask")
    h = inp
    if window and cfg.segment_offsets > 0:
        h = SegmentOffsets(cfg.segment_offsets, window, seed=seed, name="segment_offsets")(h)
    if cfg.variant == "denoising":
        h = MaskedNoise(cfg.noise_std, seed=seed, name="input_noise")(h)
    for i, units in enumerate(cfg.hidden):
        h = _dense_block(h, units, cfg, f"enc{i}")
    if cfg.variant == "variational":
        z_mean = layers.Dense(cfg.latent, name="z_mean")(h)
        z_log_var = layers.Dense(cfg.latent, name="z_log_var",
                                 kernel_initializer="zeros")(h)
        encoder = keras.Model(inp, [z_mean, z_log_var], name="encoder")
    else:
        z = layers.Dense(cfg.latent, name="z")(h)
        encoder = keras.Model(inp, z, name="encoder")

    z_in = keras.Input((cfg.latent,), name="latent")
    h = z_in
    for i, units in enumerate(reversed(cfg.hidden)):
        h = _dense_block(h, units, cfg, f"dec{i}")
    out = layers.Dense(dim, activation=cfg.output_activation,
                       kernel_initializer=INITIALIZERS[cfg.initializer], name="reconstruction")(h)
    decoder = keras.Model(z_in, out, name="decoder")

    ae_in = keras.Input((2 * dim,), name="values_and_mask")
    if cfg.variant == "variational":
        zm, zl = encoder(ae_in)
        z = Sampling(seed=seed, name="sampling")([zm, zl])
        ae_out = layers.Concatenate(name="recon_and_posterior")([decoder(z), zm, zl])
    else:
        ae_out = decoder(encoder(ae_in))
    return keras.Model(ae_in, ae_out, name="autoencoder")


def make_loss(dim: int, cfg: ModelConfig) -> MaskedReconstructionLoss:
    latent = cfg.latent if cfg.variant == "variational" else 0
    return MaskedReconstructionLoss(cfg.loss, dim, latent, cfg.kl_weight)


def make_metrics(dim: int, cfg: ModelConfig) -> list[keras.metrics.Metric]:
    return [ReconstructionLoss(cfg.loss, dim)]


def make_optimizer(cfg: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """Optimizer with its learning-rate schedule (decay measured in epochs)."""
    lr: Any = cfg.learning_rate
    steps_per_epoch = max(1, steps_per_epoch)
    if cfg.schedule == "exponential":
        lr = keras.optimizers.schedules.ExponentialDecay(
            cfg.learning_rate, decay_steps=steps_per_epoch, decay_rate=cfg.decay_rate)
    elif cfg.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(
            cfg.learning_rate, decay_steps=steps_per_epoch * cfg.epochs)
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    if cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=cfg.momentum)
    if cfg.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(lr)
    return keras.optimizers.Adadelta(lr)


def inference_model(autoencoder: keras.Model) -> keras.Model:
    """Deterministic model: input -> [latent code (z or z_mean), reconstruction]."""
    encoder = autoencoder.get_layer("encoder")
    decoder = autoencoder.get_layer("decoder")
    inp = keras.Input(encoder.input_shape[1:], name="values_and_mask")
    z = encoder(inp, training=False)
    if isinstance(z, list | tuple):
        z = z[0]
    return keras.Model(inp, [z, decoder(z, training=False)], name="inference")
