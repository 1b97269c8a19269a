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


def test_ranges_sample_on_their_scale_and_narrow_around_the_best(tmp_path):
    import numpy as np

    from lcad.training.sweep import Range, narrowed, sample_plans

    lr = Range(low=1e-4, high=1e-1, log=True)
    draws = np.array([lr.sample(np.random.default_rng(i)) for i in range(400)])
    assert draws.min() >= 1e-4 and draws.max() <= 1e-1
    # log-uniform: as many draws per decade (a uniform draw puts ~90 % in the top decade)
    per_decade = np.histogram(np.log10(draws), bins=[-4, -3, -2, -1])[0]
    assert per_decade.min() > 0.25 * len(draws)
    fine = lr.around(1e-2, 0.25)  # a quarter of 3 decades, centred on 1e-2
    assert np.log10(fine.high / fine.low) == pytest.approx(0.75, abs=0.01)
    assert fine.low < 1e-2 < fine.high and fine.log
    edge = lr.around(1e-4, 0.25)  # kept inside the coarse range
    assert edge.low == pytest.approx(1e-4) and edge.high < 1e-3
    units = Range(low=4, high=64, log=True, integer=True)
    assert all(isinstance(units.sample(np.random.default_rng(i)), int) for i in range(20))
    text = ("data: d.csv\nmethod: coarse-to-fine\ntrials: 5\nfine_trials: 3\nshrink: 0.2\n"
            "parameters:\n  train.learning_rate: {low: 0.0001, high: 0.1, log: true}\n"
            "  model.latent: {low: 2, high: 16, integer: true}\n"
            "  model.variant: [plain, variational]\n")
    spec = load_spec(write(tmp_path, text))
    coarse = trial_overrides(spec, None)
    assert len(coarse) == 5 and coarse == trial_overrides(spec, None)  # seeded
    best = coarse[2]
    params = narrowed(spec, best)
    assert params["model.variant"] == [best["model.variant"]]  # categorical: fixed
    plans = sample_plans(params, 3, np.random.default_rng(0))
    for plan in plans:
        assert plan["model.variant"] == best["model.variant"]
        assert params["train.learning_rate"].low <= plan["train.learning_rate"] \
            <= params["train.learning_rate"].high


@pytest.mark.parametrize(("text", "message"), [
    ("data: d.csv\nparameters: {train.learning_rate: {low: 0.1, high: 0.01}}\n", "below high"),
    ("data: d.csv\nmethod: random\ntrials: 2\nparameters: "
     "{train.learning_rate: {low: 0, high: 0.1, log: true}}\n", "low > 0"),
    ("data: d.csv\nparameters: {train.learning_rate: {low: 0.001, high: 0.1}}\n",
     "a grid needs a list"),
    ("data: d.csv\nmethod: random\nparameters: {train.learning_rate: {low: 0.001, high: 0.1}}\n",
     "needs `trials`"),
])
def test_bad_ranges_name_the_problem(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        trial_overrides(load_spec(write(tmp_path, text)), None)


def test_random_search_over_ranges_takes_its_trials_from_the_command_line(tmp_path):
    spec = load_spec(write(tmp_path, "data: d.csv\nmethod: random\nparameters:\n"
                                     "  train.learning_rate: {low: 0.001, high: 0.1}\n"))
    assert len(trial_overrides(spec, 3)) == 3


@pytest.mark.parametrize(("text", "message"), [
    ("data: d.csv\nmethod: random\ntrials: 2\npruner: median\nmetric: best_val_loss\n"
     "parameters: {model.latent: [4, 8]}\n", "needs method: tpe"),
    ("data: d.csv\nmethod: tpe\npruner: median\nmetric: injected.pr_auc\ngoal: maximize\n"
     "parameters: {model.latent: [4, 8]}\n", "metric: best_val_loss"),
    ("data: d.csv\nmethod: tpe\npruner: hyperband\nparameters: {model.latent: [4, 8]}\n",
     "pruner"),
])
def test_pruning_is_refused_where_it_cannot_compare_trials(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_spec(write(tmp_path, text))


def test_tpe_suggests_on_each_parameters_scale():
    import optuna

    from lcad.training.sweep import Range, suggest

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = []
    for _ in range(30):
        t = study.ask()
        plan = {"lr": suggest(t, "lr", Range(low=1e-5, high=1e-1, log=True)),
                "latent": suggest(t, "latent", Range(low=2, high=16, integer=True)),
                "variant": suggest(t, "variant", ["plain", "denoising"]),
                "hidden": suggest(t, "hidden", [[64], [128, 64]])}
        study.tell(t, 0.0)
        seen.append(plan)
    assert all(1e-5 <= p["lr"] <= 1e-1 for p in seen)
    assert sum(p["lr"] < 1e-3 for p in seen) >= 10  # log scale: half the decades below 1e-3
    assert all(isinstance(p["latent"], int) and 2 <= p["latent"] <= 16 for p in seen)
    assert {p["variant"] for p in seen} == {"plain", "denoising"}
    assert {tuple(p["hidden"]) for p in seen} == {(64,), (128, 64)}  # lists kept as lists


def test_a_trial_worse_than_the_median_is_stopped_at_that_epoch():
    """PruneOnValLoss in a real Keras fit: earlier trials reached val_loss 0.01; this one
    (learning nothing, loss ~1) is stopped at the first epoch past the warm-up."""
    import keras
    import numpy as np
    import optuna

    from lcad.training.sweep import PruneOnValLoss

    study = optuna.create_study(pruner=optuna.pruners.MedianPruner(n_startup_trials=2,
                                                                   n_warmup_steps=1))
    for _ in range(2):
        done = study.ask()
        for step in range(5):
            done.report(0.01, step)
        study.tell(done, 0.01)
    trial = study.ask()
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
    net.compile(optimizer=keras.optimizers.SGD(1e-9), loss="mse")
    callback = PruneOnValLoss(trial)
    history = net.fit(x, x, validation_data=(x, x), epochs=5, verbose=0, callbacks=[callback])
    assert callback.pruned_at == 2  # epoch 1 is warm-up; epoch 2 is worse than the median
    assert len(history.history["loss"]) == 2 and callback.last > 0.01


def test_a_sweep_checks_the_ends_of_its_ranges_before_training(tmp_path):
    from lcad.models.config import DetectorConfig
    from lcad.training.sweep import Range, config_of, corners

    params = {"model.latent": Range(low=2.5, high=16.5, integer=True),
              "model.variant": ["plain", "denoising"]}
    assert corners(params) == [{"model.latent": 3, "model.variant": "plain"},
                               {"model.latent": 16, "model.variant": "denoising"}]
    for plan in corners(params):
        assert config_of(DetectorConfig(), plan).model.latent == plan["model.latent"]
    with pytest.raises(ConfigError, match="dropout"):  # a range past what the key accepts
        for plan in corners({"model.dropout": Range(low=0.0, high=1.5)}):
            config_of(DetectorConfig(), plan)


def test_a_second_training_reports_after_the_first_trainings_steps():
    """A trial whose detector trains again on windows of one period (models/fit.py) reports
    that training's epochs after the first's: Optuna keeps a step's first value, so reports
    at the same steps would be lost."""
    from lcad.training.sweep import PruneOnValLoss

    class Trial:
        def __init__(self):
            self.reports = []

        def report(self, value, step):
            self.reports.append((step, value))

        def should_prune(self):
            return False

    trial = Trial()
    cb = PruneOnValLoss(trial)
    for epoch in range(3):
        cb.on_epoch_end(epoch, {"val_loss": 10.0 - epoch})
    cb.on_refit(None)
    for epoch in range(2):
        cb.on_epoch_end(epoch, {"val_loss": 5.0 - epoch})
    assert [s for s, _ in trial.reports] == [0, 1, 2, 3, 4]
    assert trial.reports[-1] == (4, 4.0)
