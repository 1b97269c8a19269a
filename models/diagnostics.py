"""Did the autoencoder learn anything? Held-out reconstruction R^2, its noise ceiling, and the
number of active latent units, measured after training on the held-out windows (the
validation and calibration parts: `fit._held_out_windows`).

- `recon_r2`: 1 - SSE / SST over the valid cells of the held-out windows (normalised flux;
  SST around their overall mean). A constant reconstruction scores <= 0.
- `recon_r2_ceiling`: 1 - (noise variance) / (variance): the share of the variance that is
  not white noise (noise from neighbouring cells' differences), i.e. the best R^2 a model
  could reach without fitting the noise. Near 0, the windows are white noise at this
  cadence and there is nothing to reconstruct.
- `active_units`: latent dimensions whose code varies across windows (Burda et al. 2016:
  Var_x E[z|x] > 0.01 for the variational model, whose prior fixes the scale; for the plain
  models, whose scale is free, variance above 1% of the largest unit's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# what a network that learned little should try: windows on a grid see more with a longer
# window; whole sparse curves resampled onto a grid are mostly interpolation, and the object
# score does not rest on them
LONGER_WINDOW = "a longer --window sees more of it"
WHOLE_CURVES = ("sparse curves resampled onto a grid are mostly interpolation; the object "
                "score rests on the object model, not on this network")
WHITE_NOISE_CEILING = 0.05  # below: the windows are (almost) all measurement noise
LEARNED_SHARE = 0.25  # reaching less than this share of the ceiling: the model learned little


@dataclass(frozen=True)
class Learned:
    recon_r2: float
    recon_r2_ceiling: float
    active_units: int
    latent: int

    @property
    def constant(self) -> bool:
        """The held-out windows do not vary at all (`reconstruction_r2`: no R^2, ceiling 0)."""
        return bool(np.isnan(self.recon_r2) and self.recon_r2_ceiling == 0.0)

    @property
    def white_noise(self) -> bool:
        return bool(self.recon_r2_ceiling < WHITE_NOISE_CEILING) and not self.constant

    @property
    def learned(self) -> bool:
        """The reconstruction explains a fair share of what is not noise, through at least
        one active latent unit."""
        if self.white_noise or self.constant:
            return False
        return self.active_units > 0 and self.recon_r2 >= LEARNED_SHARE * self.recon_r2_ceiling

    def verdict(self, basis: str | None = None, advice: str = LONGER_WINDOW) -> str:
        """One line for the CLI and the run: what the autoencoder reconstructs, what to try
        when it learned little (`advice`), and (given `basis`, the chosen point scorer's)
        what the point scores rest on then."""
        if self.constant:
            return ("the held-out windows are constant, nothing to reconstruct: any change "
                    "from that level scores as anomalous" + (f"; {basis}" if basis else ""))
        head = (f"held-out reconstruction R^2 {self.recon_r2:.2f} (noise ceiling "
                f"{self.recon_r2_ceiling:.2f}), active latent units {self.active_units}/"
                f"{self.latent}")
        if self.white_noise:
            return (head + ": the windows are white noise at this cadence, nothing to "
                    "reconstruct" + (f"; {basis}" if basis else ""))
        if not self.learned:
            return (head + f": the autoencoder reconstructs little of the signal; {advice}"
                    + (f"; {basis}" if basis else ""))
        return head

    @property
    def status(self) -> str:
        """learned | white-noise | constant | little (run tag `lcad.autoencoder`)."""
        if self.constant:
            return "constant"
        return "white-noise" if self.white_noise else "learned" if self.learned else "little"

    def to_dict(self, basis: str | None = None, advice: str = LONGER_WINDOW
                ) -> dict[str, Any]:
        """For the bundle and `GET /v1/model` (NaN as None: JSON has no NaN)."""
        def num(v: float) -> float | None:
            return round(float(v), 4) if np.isfinite(v) else None
        return {"status": self.status, "recon_r2": num(self.recon_r2),
                "recon_r2_ceiling": num(self.recon_r2_ceiling),
                "active_units": self.active_units, "latent": self.latent,
                "verdict": self.verdict(basis, advice)}

    def metrics(self) -> dict[str, float]:
        return {"recon_r2": self.recon_r2, "recon_r2_ceiling": self.recon_r2_ceiling,
                "active_units": float(self.active_units)}


def active_units(z: np.ndarray, variational: bool) -> int:
    """Latent dimensions whose code varies across the windows (see the module doc)."""
    if z.size == 0:
        return 0
    var = np.var(z.astype(np.float64), axis=0)
    if variational:
        return int(np.sum(var > 0.01))
    top = float(var.max())
    if not top > 1e-8:
        return 0
    return int(np.sum(var > 0.01 * top))


def reconstruction_r2(values: np.ndarray, mask: np.ndarray, recon: np.ndarray
                      ) -> tuple[float, float]:
    """(R^2, noise ceiling) over the valid cells; see the module doc. The noise variance is
    half the mean squared difference of neighbouring valid cells (white noise: the variance
    itself; a smooth signal adds little), measured on the same windows: no error model and
    no second sample, so white noise gives a ceiling near 0 rather than one that wanders
    with the noise estimate of the training part."""
    m = mask > 0.5
    if m.sum() < 2:
        return float("nan"), float("nan")
    x = values[m].astype(np.float64)
    sst = float(np.sum((x - x.mean()) ** 2))
    if not sst > 0:
        return float("nan"), 0.0
    sse = float(np.sum((recon[m].astype(np.float64) - x) ** 2))
    pair = m[:, 1:] & m[:, :-1]
    if not pair.any():
        return 1.0 - sse / sst, float("nan")
    steps = np.diff(values.astype(np.float64), axis=1)[pair]
    noise = 0.5 * float(np.mean(steps ** 2))
    return 1.0 - sse / sst, max(0.0, 1.0 - noise / (sst / x.size))


def measure(z: np.ndarray, recon: np.ndarray, targets: np.ndarray, variational: bool
            ) -> Learned:
    """`Learned` from latent codes (n, L), reconstructions (n, D) and targets (n, 3D:
    values, mask, errors, as the training targets) of held-out windows."""
    d = recon.shape[1]
    r2, ceiling = reconstruction_r2(targets[:, :d], targets[:, d: 2 * d], recon)
    return Learned(r2, ceiling, active_units(z, variational), z.shape[1])
