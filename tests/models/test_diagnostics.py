"""Did the autoencoder learn? R^2, its noise ceiling and active units, from numbers and from
real fits (a structured series is learned; white noise is said to be white noise)."""

import numpy as np
import pytest

from lcad.models import diagnostics
from lcad.models.config import DetectorConfig
from lcad.models.fit import fit_detector
from lcad.models.lightcurve import LightCurve


def targets(values, err=None):
    err = np.ones_like(values) if err is None else err
    return np.concatenate([values, np.ones_like(values), err], axis=1).astype(np.float32)


def test_constant_reconstruction_scores_zero_and_is_called_out():
    rng = np.random.default_rng(0)
    x = np.sin(np.linspace(0, 40, 200 * 16)).reshape(200, 16) + rng.normal(0, 0.1, (200, 16))
    recon = np.full_like(x, x.mean())
    z = np.zeros((200, 4)) + rng.normal(0, 1e-4, (200, 4))  # codes all alike
    got = diagnostics.measure(z, recon, targets(x, np.full_like(x, 0.1)), variational=True)
    assert got.recon_r2 == pytest.approx(0.0, abs=1e-9)
    assert got.recon_r2_ceiling > 0.9 and got.active_units == 0
    assert got.status == "little" and "reconstructs little" in got.verdict()
    assert "model.variant" not in got.verdict()  # no hint the measurements do not back
    assert "a longer --window" in got.verdict()  # windows on a grid
    whole = got.verdict("basis", diagnostics.WHOLE_CURVES)  # whole sparse curves
    assert "--window" not in whole and whole.endswith("not on this network; basis")


def test_good_reconstruction_is_learned_and_pure_noise_is_white_noise():
    rng = np.random.default_rng(1)
    signal = np.sin(np.linspace(0, 40, 300 * 16)).reshape(300, 16)
    x = signal + rng.normal(0, 0.1, signal.shape)
    z = rng.normal(0, 1, (300, 4))
    got = diagnostics.measure(z, signal, targets(x, np.full_like(x, 0.1)), variational=True)
    assert got.recon_r2 > 0.95 and got.active_units == 4 and got.status == "learned"
    noise = rng.normal(0, 1, (300, 16))
    white = diagnostics.measure(z, np.zeros_like(noise), targets(noise, np.ones_like(noise)),
                                variational=True)
    assert white.recon_r2_ceiling < diagnostics.WHITE_NOISE_CEILING
    assert white.status == "white-noise" and "white noise" in white.verdict()


def test_constant_windows_are_called_constant_not_white_noise(tmp_path, capsys):
    flat = np.ones((100, 16))
    got = diagnostics.measure(np.zeros((100, 4)), flat, targets(flat, np.ones_like(flat)),
                              variational=True)
    assert got.status == "constant" and not got.white_noise and not got.learned
    assert "the held-out windows are constant" in got.verdict() and "nan" not in got.verdict()
    assert got.to_dict()["recon_r2"] is None  # JSON has no NaN
    # through the CLI: a flat light curve trains, and the run says what it is
    from lcad.cli import main

    data = tmp_path / "flat.csv"
    data.write_text("time,flux\n" + "".join(f"{t},1.0\n" for t in range(600)))
    assert main(["train", "--data", str(data), "--output", str(tmp_path / "b"),
                 "--no-tracking", "--set", "train.epochs=2"]) == 0
    out, err = capsys.readouterr()
    assert "autoencoder: the held-out windows are constant, nothing to reconstruct" in out + err
    assert "R^2 nan" not in out + err


def test_plain_units_count_relative_to_the_largest():
    z = np.column_stack([np.linspace(0, 100, 50), np.linspace(0, 1e-3, 50), np.zeros(50)])
    assert diagnostics.active_units(z, variational=False) == 1
    assert diagnostics.active_units(np.zeros((10, 3)), variational=False) == 0


def _series(name, f, t):
    return LightCurve.from_arrays(name, t, f, emit_warnings=False)


def test_a_fit_reports_what_the_network_learned_on_structure_and_on_noise():
    rng = np.random.default_rng(2)
    t = np.arange(3000.0)
    structured = np.sin(2 * np.pi * t / 37) + 0.5 * np.sin(2 * np.pi * t / 11) \
        + rng.normal(0, 0.05, t.size)
    cfg = DetectorConfig.from_dict({"preprocess": {"window": 32},
                                    "train": {"epochs": 15, "seed": 0}})
    det, metrics = fit_detector([_series("s", structured, t)], cfg)
    info = det.info.autoencoder
    assert info["status"] == "learned", info
    assert metrics["recon_r2"] > 0.6 and metrics["active_units"] >= 1
    noise_det, _ = fit_detector([_series("n", rng.normal(0, 1, t.size), t)], cfg)
    assert noise_det.info.autoencoder["status"] == "white-noise", noise_det.info.autoencoder
    # the verdict names what the point scores rest on: here the scan (white residuals)
    assert noise_det.point_method == "scan"
    assert "scan" in noise_det.info.autoencoder["verdict"]


def test_the_verdict_names_the_chosen_point_scorer_not_always_the_scan():
    from lcad.models.point_scores import POINT_SCORERS

    noise = np.random.default_rng(3).normal(0, 1, (300, 16))
    white = diagnostics.measure(np.zeros((300, 4)), np.zeros_like(noise),
                                targets(noise, np.ones_like(noise)), variational=True)
    said = white.to_dict(POINT_SCORERS["novelty"].basis)["verdict"]
    assert "novelty" in said and "scan" not in said
