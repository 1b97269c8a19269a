import pytest

from lcad.models.config import DetectorConfig
from lcad.models.errors import ConfigError


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown config key 'model\.hiddn'"):
        DetectorConfig.from_dict({"model": {"hiddn": [3]}})
    with pytest.raises(ConfigError, match=r"unknown config key 'train\.nope'"):
        DetectorConfig().with_overrides(["train.nope=1"])


def test_overrides_and_yaml_round_trip():
    cfg = DetectorConfig().with_overrides(["model.hidden=[16, 8]", "train.epochs=3"])
    assert cfg.model.hidden == [16, 8] and cfg.train.epochs == 3
    assert DetectorConfig.from_yaml(cfg.to_yaml()) == cfg
    assert cfg.flat()["model.hidden"] == [16, 8]


def test_bad_values_are_named():
    with pytest.raises(ConfigError, match=r"preprocess\.window"):
        DetectorConfig.from_dict({"preprocess": {"window": 1}})
    with pytest.raises(ConfigError, match="bce needs"):
        DetectorConfig.from_dict({"model": {"loss": "bce"}})
    with pytest.raises(ConfigError, match="YAML mapping"):
        DetectorConfig.from_yaml("- a\n- b\n")
    for bad in ("[1]", "[4, 4]", "[0]"):
        with pytest.raises(ConfigError, match=r"scoring\.novelty_scales must be distinct"):
            DetectorConfig().with_overrides([f"scoring.novelty_scales={bad}"])


def test_a_misspelt_key_gets_the_closest_known_ones():
    from lcad.models.errors import ConfigError

    with pytest.raises(ConfigError, match=r"unknown config key 'model.latnet'; did you mean "
                                          r"'model.latent'\?"):
        DetectorConfig().with_overrides(["model.latnet=16"])
    with pytest.raises(ConfigError, match=r"'trian'; did you mean 'train'\?"):
        DetectorConfig().with_overrides(["trian.epochs=3"])
    with pytest.raises(ConfigError, match=r"unknown config key 'model.zzz'$"):
        DetectorConfig().with_overrides(["model.zzz=1"])
    # the Python API's mappings (Detector.fit(curves, train={...})) get the same help
    with pytest.raises(ConfigError, match=r"'train.epoch'; did you mean 'train.epochs'\?"):
        DetectorConfig().with_sections({"train": {"epoch": 2}})
    with pytest.raises(ConfigError, match=r"'trian'; did you mean 'train'\?"):
        DetectorConfig.from_dict({"trian": {}})
    with pytest.raises(ConfigError, match=r"section 'window'; .* \('window' is a key of "
                                          r"'preprocess': preprocess=\{'window': ...\}\)"):
        DetectorConfig().with_sections({"window": 32})  # type: ignore[dict-item]


def test_small_training_sets_get_smaller_batches_so_an_epoch_makes_several_updates():
    t = DetectorConfig.from_dict({"train": {"min_batches": 16}}).train
    assert t.batch_for(100_000) == 256  # large sets: the configured batch
    assert t.batch_for(2000) == 125  # 16 updates an epoch
    assert t.batch_for(100) == 16  # never under 16 windows a batch
    default = DetectorConfig().train
    assert (default.batch_size, default.min_batches) == (256, 1)
    assert default.batch_for(2000) == 256 and default.batch_for(2000, 16) == 125
