"""The sweep file: validation, paths, and the trial plans of grid and random search."""

import pytest

from lcad.models.errors import ConfigError
from lcad.training.sweep import load_spec, trial_overrides


def write(tmp_path, text):
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return path


def test_grid_plans_every_combination_in_order(tmp_path):
    spec = load_spec(write(tmp_path, "data: d.csv\nparameters:\n  model.latent: [4, 8]\n"
                                     "  train.learning_rate: [0.01, 0.001]\n"))
    assert spec.data == str((tmp_path / "d.csv").resolve())  # relative to the sweep file
    plans = trial_overrides(spec, None)
    assert plans == [{"model.latent": 4, "train.learning_rate": 0.01},
                     {"model.latent": 4, "train.learning_rate": 0.001},
                     {"model.latent": 8, "train.learning_rate": 0.01},
                     {"model.latent": 8, "train.learning_rate": 0.001}]
    assert trial_overrides(spec, 2) == plans[:2]


def test_random_plans_are_distinct_and_seeded(tmp_path):
    text = ("data: d.csv\nmethod: random\nseed: 3\nparameters:\n  model.latent: [2, 4, 8, 16]\n"
            "  train.batch_size: [32, 64]\n")
    spec = load_spec(write(tmp_path, text))
    a, b = trial_overrides(spec, 5), trial_overrides(spec, 5)
    assert a == b and len(a) == 5
    assert len({tuple(sorted(p.items())) for p in a}) == 5
    assert len(trial_overrides(spec, 100)) == 8  # never more than the grid


@pytest.mark.parametrize(("text", "message"), [
    ("parameters: {model.latent: [4]}\n", "data"),
    ("data: d.csv\nparameters: {model.latent: []}\n", "parameters.model.latent must be a "
                                                       "non-empty list"),
    ("data: d.csv\nmethod: bayes\nparameters: {model.latent: [4]}\n", "method"),
    ("data: d.csv\nparameters: {model.latent: [4]}\nbogus: 1\n", "bogus"),
    ("data: [unclosed\n", "sweep.yaml"),
])
def test_bad_sweep_files_name_the_problem(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_spec(write(tmp_path, text))


def test_missing_sweep_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_spec(tmp_path / "nope.yaml")
