"""The synthetic survey-transient dev task (bench.objects.transients_task): what each kind
looks like to the features, and the object model finding the rare kind among the others."""

from __future__ import annotations

import numpy as np
import pytest

from lcad.models.config import ObjectConfig
from lcad.models.features import feature_matrix
from lcad.models.objects import ObjectModel
from lcad.training.evaluate import ranking_metrics

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def test_a_draw_is_two_band_survey_curves_with_ten_of_the_rare_kind() -> None:
    from bench.objects import TRANSIENT_KINDS, transients_task

    curves, y = transients_task(0, "blazar")
    assert len(curves) == 10 + 60 * (len(TRANSIENT_KINDS) - 1) and int(y.sum()) == 10
    assert all(c.object_id.startswith("blazar") == bool(k) for c, k in zip(curves, y, strict=True))
    for c in curves:
        assert c.unit == "mag" and c.bands == ["g", "r"]
        gaps = np.diff(np.unique(np.floor(c.time)))
        assert gaps.max() > 150  # seasons
        assert c.mask.sum() >= 10 and np.all(np.isfinite(c.flux[c.mask]))
    again, _ = transients_task(0, "blazar")
    assert np.array_equal(again[3].flux, curves[3].flux)  # a draw is reproducible
    sn, y_sn = transients_task(0, "sn-fast")
    assert len(sn) == 210 and int(y_sn.sum()) == 10
    assert {c.object_id.rsplit("-", 1)[0] for c in sn} == {"sn", "sn-fast"}
    sn, y_sn = transients_task(0, "sn")  # supernovae among the other kinds, not subtypes
    assert len(sn) == 190 and int(y_sn.sum()) == 10
    assert {c.object_id.rsplit("-", 1)[0] for c in sn} == set(TRANSIENT_KINDS)
    big, y_big = transients_task(0, "blazar", scale=2)  # a bigger sample, the same 5 % rare
    assert len(big) == 380 and int(y_big.sum()) == 20
    assert not np.array_equal(big[3].flux, curves[3].flux)  # other objects, not a copy


def test_the_kinds_differ_where_the_generator_says() -> None:
    from bench.objects import transients_task

    curves, _ = transients_task(1, "cv")
    x, names = feature_matrix(curves, ["g", "r"])
    kind = np.array([c.object_id.rsplit("-", 1)[0] for c in curves])
    amp = x[:, names.index("g.log_frac_amplitude")]
    med = {k: float(np.nanmedian(amp[kind == k])) for k in set(kind)}
    # AGN vary least; dwarf novae (2-4 mag outbursts) most
    assert med["agn"] < med["blazar"] and med["agn"] < med["sn"] < med["cv"]
    colour = x[:, names.index("colour.g-r")]
    assert np.all(np.isfinite(colour))


def test_the_object_model_finds_dwarf_novae_among_other_transients() -> None:
    """A regression floor: outbursting CVs are the easy kind (features + Isolation Forest and
    lcad 0.95-0.96 ROC-AUC over 5 draws, docs/quality-log.md session 25)."""
    from bench.objects import transients_task

    curves, y = transients_task(0, "cv")
    raw = feature_matrix(curves, ["g", "r"])[0]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(curves))
    train, val = order[: int(0.8 * len(order))], order[int(0.8 * len(order)):]
    model, metrics = ObjectModel.fit_features(raw[train], raw[val], ["g", "r"],
                                              ObjectConfig(), seed=0)
    assert metrics["objects.val_r2"] > 0.3  # the autoencoder learned the features
    assert ranking_metrics(y, model.assess(raw).score)["roc_auc"] > 0.8


def test_an_alerts_draw_is_whole_supernovae_with_ten_redder_faster_ones() -> None:
    """The SN Ia alert-history dev task (bench.objects.alerts_task, session 34)."""
    from bench.objects import alerts_task

    curves, y = alerts_task(0)
    assert len(curves) == 210 and int(y.sum()) == 10
    assert all(c.object_id.startswith("Ia-91bg") == bool(k) for c, k in zip(curves, y, strict=True))
    for c in curves:
        assert c.unit == "mag" and c.bands == ["g", "r"]
        assert np.ptp(c.time) < 170 and c.mask.sum() >= 10  # one event, no seasons
        assert c.mask.all()  # detections near the limit: no error of several magnitudes
    again, _ = alerts_task(0)
    assert np.array_equal(again[5].flux, curves[5].flux)
    x, names = feature_matrix(curves, ["g", "r"])
    assert np.isfinite(x).all()  # every band has epochs; the period search is not degenerate
    colour = x[:, names.index("colour.g-r")]
    assert np.median(colour[y]) > np.median(colour[~y]) + 0.3


def test_a_crts_draw_is_one_band_with_four_exposures_a_visit() -> None:
    """The Catalina-like variant of the task (`survey="crts"`, session 44): one unfiltered
    band, four exposures about 10 minutes apart each visit, 5-8 seasons, a brighter limit."""
    from bench.objects import TRANSIENT_KINDS, transients_task

    curves, y = transients_task(0, "agn", survey="crts")
    assert len(curves) == 10 + 60 * (len(TRANSIENT_KINDS) - 1) and int(y.sum()) == 10
    seasons, per_visit = [], []
    for c in curves:
        assert c.unit == "mag" and c.bands == ["V"]
        t = c.time[c.mask]
        nights, counts = np.unique(np.floor(t), return_counts=True)
        per_visit.append(np.median(counts))
        seasons.append(np.unique(np.floor(nights / 365.0)).size)
        night_span = [np.ptp(t[np.floor(t) == n]) for n in nights[counts > 1]]
        assert max(night_span, default=0.0) < 0.05  # a visit's exposures within ~30 minutes
    # supernovae whose host is below the limit are seen in the season of the explosion only
    assert np.median(per_visit) == 4 and np.median(seasons) >= 5 and max(seasons) <= 8
    again, _ = transients_task(0, "agn", survey="crts")
    assert np.array_equal(again[7].flux, curves[7].flux)
    other, _ = transients_task(0, "agn")  # the two-band task is another draw
    assert other[7].bands == ["g", "r"]
