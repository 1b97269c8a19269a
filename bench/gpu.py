"""Benchmark 5: the default lcad network under any Keras backend, on its best device.

    KERAS_BACKEND=jax python bench/gpu.py            # GPU when jax sees one, else CPU
    KERAS_BACKEND=jax python bench/gpu.py --cpu      # force the CPU

Inference windows/s with the windows already on the device and with host transfers
(numpy in, numpy out), and training windows/s; median and spread of 3 runs each.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpu", action="store_true")
    ap.add_argument("--windows", type=int, default=262_144)
    args = ap.parse_args()
    if args.cpu:
        os.environ["JAX_PLATFORMS"] = "cpu"
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    import keras

    from bench.common import fmt, machine, repeat, table
    from lcad.models.autoencoder import (
        build_autoencoder,
        inference_model,
        make_loss,
        make_optimizer,
    )
    from lcad.models.config import DetectorConfig

    cfg = DetectorConfig()
    dim = cfg.preprocess.window
    model = build_autoencoder(dim, cfg.model)
    infer = inference_model(model)
    rng = np.random.default_rng(0)
    n = args.windows
    x = rng.normal(size=(n, 2 * dim)).astype("float32")
    x[:, dim:] = 1.0
    y = np.concatenate([x[:, :dim], x[:, dim:], np.ones((n, dim), "float32")], axis=1)
    backend = keras.backend.backend()
    device = "cpu"
    rows = []
    batch = 8192

    if backend == "jax":
        import jax

        device = str(jax.devices()[0])
        fwd = jax.jit(lambda tv, ntv, xb: infer.stateless_call(tv, ntv, xb)[0][1])
        tv = [v.value for v in infer.trainable_variables]
        ntv = [v.value for v in infer.non_trainable_variables]
        xd = jax.device_put(x)
        fwd(tv, ntv, xd[:batch]).block_until_ready()

        def on_device() -> float:
            t0 = time.perf_counter()
            outs = [fwd(tv, ntv, xd[i: i + batch]) for i in range(0, n, batch)]
            for o in outs:
                o.block_until_ready()
            return n / (time.perf_counter() - t0)

        rows.append(["inference, data on device", fmt(repeat(on_device), " w/s")])

    infer.predict_on_batch(x[:batch])

    def with_transfers() -> float:
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            np.asarray(infer.predict_on_batch(x[i: i + batch])[1])
        return n / (time.perf_counter() - t0)

    rows.append(["inference, numpy in and out", fmt(repeat(with_transfers), " w/s")])
    model.compile(optimizer=make_optimizer(cfg.train, n // 256), loss=make_loss(dim, cfg.model))
    m = min(n, 65_536)
    model.fit(x[:m], y[:m], batch_size=256, epochs=1, verbose=0)

    for bs in (256, 4096):
        model.fit(x[:m], y[:m], batch_size=bs, epochs=1, verbose=0)

        def train(bs: int = bs) -> float:
            t0 = time.perf_counter()
            model.fit(x[:m], y[:m], batch_size=bs, epochs=1, verbose=0)
            return m / (time.perf_counter() - t0)

        rows.append([f"training (batch {bs})", fmt(repeat(train), " w/s")])
    print(f"machine: {machine()}\nbackend: {backend}, device: {device}, keras "
          f"{keras.__version__}, windows: {n}, network: window {dim}, hidden "
          f"{cfg.model.hidden}, latent {cfg.model.latent}\n")
    print(table(["measure", "windows/s median (min-max of 3)"], rows))


if __name__ == "__main__":
    main()
