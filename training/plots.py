"""The figures people look at in the MLflow UI (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from lcad.models.detector import Detector
from lcad.models.lightcurve import LightCurve


def loss_curves(history: Sequence[dict[str, float]]) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [h["epoch"] for h in history]
    for key in ("loss", "val_loss"):
        ys = [h.get(key, np.nan) for h in history]
        ax.plot(epochs, ys, marker="o", label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("masked loss")
    ax.set_yscale("log")
    ax.legend()
    ax.set_title("training and validation loss")
    fig.tight_layout()
    return fig


def window_diagnostics(det: Detector, curves: Sequence[LightCurve],
                       max_windows: int = 4096) -> dict[str, Any]:
    """Window errors, latent codes, inputs and reconstructions of held-out curves: windows at
    the training stride, at most `max_windows` of them evenly spread (figures need no more)."""
    xs, masks, prepared = [], [], []
    for c in curves:
        try:
            p = det.prepare(c, stride=det.config.train.stride)
        except ValueError:
            continue
        prepared.append(p)
    total = sum(p.win.n_windows for p in prepared)
    if total == 0:
        return {}
    every = max(1, int(np.ceil(total / max_windows)))
    zs, rs, errs = [], [], []
    for p in prepared:
        z, r = det.predict_arrays(p.model_input())
        werr, _ = det.window_errors_of(p, r)
        keep = np.isfinite(werr) & (np.arange(werr.size) % every == 0)
        xs.append(p.xn[keep])
        rs.append(r[keep])
        zs.append(z[keep])
        errs.append(werr[keep])
        masks.append(p.win.mask[keep])
    return {"x": np.concatenate(xs), "recon": np.concatenate(rs), "latent": np.concatenate(zs),
            "error": np.concatenate(errs), "mask": np.concatenate(masks)}


def reconstructions(diag: dict[str, Any], n: int = 3) -> Figure:
    order = np.argsort(diag["error"])
    picks = [("best", i) for i in order[:n]] + [("worst", i) for i in order[::-1][:n]]
    fig, axes = plt.subplots(2, n, figsize=(4 * n, 5), squeeze=False)
    for k, (label, i) in enumerate(picks):
        ax = axes[k // n][k % n]
        m = diag["mask"][i]
        idx = np.arange(m.size)
        ax.plot(idx[m], diag["x"][i][m], ".", ms=3, label="input")
        ax.plot(idx, diag["recon"][i], "-", label="reconstruction")
        ax.set_title(f"{label}: error {diag['error'][i]:.3g}", fontsize=9)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("best and worst held-out reconstructions (model units)")
    fig.tight_layout()
    return fig


def score_histogram(errors: np.ndarray, threshold: float) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 4))
    e = errors[np.isfinite(errors) & (errors > 0)]
    bins = list(np.logspace(np.log10(e.min()), np.log10(e.max()), 60)) if e.size else 10
    ax.hist(e, bins=bins, color="tab:blue", alpha=0.8)
    ax.axvline(threshold, color="tab:red", label=f"window threshold {threshold:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("window reconstruction error (held-out)")
    ax.set_ylabel("windows")
    ax.legend()
    fig.tight_layout()
    return fig


def latent_space(latent: np.ndarray, errors: np.ndarray) -> Figure:
    z = latent - latent.mean(axis=0)
    if z.shape[1] > 2:
        _, _, vt = np.linalg.svd(z, full_matrices=False)
        z = z @ vt[:2].T
    elif z.shape[1] == 1:
        z = np.column_stack([z[:, 0], np.zeros(len(z))])
    fig, ax = plt.subplots(figsize=(6, 5))
    sc = ax.scatter(z[:, 0], z[:, 1], c=np.log10(np.maximum(errors, 1e-12)), s=4, cmap="viridis")
    fig.colorbar(sc, ax=ax, label="log10 window error")
    ax.set_title("latent space (first two principal components)")
    fig.tight_layout()
    return fig
