"""A model asked for another point score when scoring (`Detector.looking_for`): a novelty
model keeps the scan calibrated beside it, so one training serves both questions."""

import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from bench.quality import synthetic_cases
from lcad.models.config import DetectorConfig
from lcad.models.detector import Detector
from lcad.models.errors import ConfigError
from lcad.models.fit import fit_detector

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def eclipsing():
    """The synthetic eclipsing star: `auto` chooses novelty (its residuals stay structured),
    and the events added to its test part are what the scan finds (docs/quality-log.md
    session 46: 0.85 against novelty's 0.32)."""
    case = next(c for c in synthetic_cases() if c.object_id == "synth_eclipsing")
    det, _ = fit_detector([case.train], DetectorConfig())
    return det, case


def _pr_auc(det, case):
    got = det.score([case.test])[0].point_score
    ok = np.isfinite(got)
    return average_precision_score(case.truth[ok], got[ok]), got


def test_a_novelty_model_scores_events_when_asked_and_stays_as_it_was(eclipsing):
    det, case = eclipsing
    assert det.point_method == "novelty" and det.look_for == ["shapes", "events"]
    reason = det.info.point_score_reason
    asked = det.looking_for("events")
    assert asked.point_method == "scan" and asked.look_for == ["events", "shapes"]
    assert asked.info.point_score_reason.startswith("the residual scan")
    assert "asked for when scoring (look for events" in asked.info.point_score_reason
    # the same networks; the model asked stays as trained
    assert asked.model is det.model and det.point_method == "novelty"
    assert det.info.point_score_reason == reason and det.info.point_score == "novelty"
    assert det.looking_for(None) is det and det.looking_for("shapes") is det
    own, _ = _pr_auc(det, case)
    events, _ = _pr_auc(asked, case)
    assert events > own + 0.2 and events > 0.6, (events, own)
    # the scan's threshold is its own null's, at the same false-alarm rate
    assert asked.calibration.point_threshold != det.calibration.point_threshold
    assert asked.calibration.object == det.calibration.object


def test_the_scan_beside_novelty_travels_in_the_bundle_both_ways(eclipsing, tmp_path):
    det, case = eclipsing
    _, want_shapes = _pr_auc(det, case)
    _, want_events = _pr_auc(det.looking_for("events"), case)
    saved = json.loads((det.save(tmp_path / "shapes") / "calibration.json").read_text())
    assert set(saved["alternatives"]) == {"scan"} and saved["alternatives"]["scan"]["scan"]
    loaded = Detector.load(tmp_path / "shapes")
    _, got = _pr_auc(loaded.looking_for("events"), case)
    np.testing.assert_allclose(got, want_events, rtol=1e-6)
    # a model asked for events, saved (what `lcad score --processes` ships to its
    # processes): the scan is its own, novelty the one beside it
    flipped = Detector.load(det.looking_for("events").save(tmp_path / "events"))
    assert flipped.point_method == "scan" and flipped.look_for == ["events", "shapes"]
    _, got = _pr_auc(flipped, case)
    np.testing.assert_allclose(got, want_events, rtol=1e-6)
    _, got = _pr_auc(flipped.looking_for("shapes"), case)
    np.testing.assert_allclose(got, want_shapes, rtol=1e-5)


def test_what_a_model_cannot_be_asked_is_named_with_what_to_do(eclipsing, tiny_detector,
                                                                tmp_path):
    assert tiny_detector.point_method == "scan" and tiny_detector.look_for == ["events"]
    with pytest.raises(ConfigError, match=r"only a model trained for shapes keeps\. Train with "
                       "--look-for shapes"):
        tiny_detector.looking_for("shapes")
    with pytest.raises(ConfigError, match=r"choose one of \['events', 'shapes'\]"):
        tiny_detector.looking_for("flares")
    # a novelty bundle saved before the scan was calibrated beside it
    det, _ = eclipsing
    path = det.save(tmp_path / "old")
    cal = json.loads((path / "calibration.json").read_text())
    del cal["alternatives"]
    (path / "calibration.json").write_text(json.dumps(cal))
    meta = json.loads((path / "config.json").read_text())
    meta["files"].pop("calibration.json")  # the checksum of the file as it was
    (path / "config.json").write_text(json.dumps(meta))
    old = Detector.load(path)
    assert old.look_for == ["shapes"]
    with pytest.raises(ConfigError, match="train again or fine-tune it"):
        old.looking_for("events")
