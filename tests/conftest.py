"""Shared fixtures: a tiny detector trained for seconds on synthetic curves."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

SYNTH = dict(n_points=800, kinds=("sinusoid",), period_range=(0.5, 0.7))
TINY_CONFIG = {
    "preprocess": {"window": 32},
    "model": {"hidden": [64], "latent": 8},
    "train": {"epochs": 30, "stride": 2, "patience": 5},
}


@pytest.fixture(scope="session")
def tiny_config():
    from models.config import DetectorConfig

    return DetectorConfig.from_dict(TINY_CONFIG)


@pytest.fixture(scope="session")
def tiny_detector(tiny_config):
    from models.fit import fit_detector
    from models.synthetic import synthetic_dataset

    curves, _ = synthetic_dataset(30, seed=1, **SYNTH)
    detector, _ = fit_detector(curves, tiny_config)
    return detector


@pytest.fixture(scope="session")
def tiny_bundle(tiny_detector, tmp_path_factory):
    path = tmp_path_factory.mktemp("bundles") / "tiny"
    tiny_detector.save(path)
    return path


@pytest.fixture()
def rng():
    return np.random.default_rng(1234)


def shared_data(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path
