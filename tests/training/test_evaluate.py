"""Evaluation metrics and labels against hand-computed values."""

import json

import numpy as np
import pytest

from lcad.training.evaluate import (
    LabelError,
    buffered_labels,
    event_recall,
    point_truth,
    range_pr_auc,
    ranking_metrics,
    read_labels,
    true_runs,
    vus_pr,
)


def test_true_runs():
    assert true_runs(np.array([0, 1, 1, 0, 1], bool)) == [(1, 3), (4, 5)]
    assert true_runs(np.zeros(3, bool)) == []
    assert true_runs(np.ones(2, bool)) == [(0, 2)]


def test_ranking_metrics_perfect_inverted_and_undefined():
    y = np.array([0, 0, 1, 1], bool)
    m = ranking_metrics(y, np.array([0.1, 0.2, 0.8, 0.9]))
    assert m == {"roc_auc": 1.0, "pr_auc": 1.0, "best_f1": 1.0}
    m = ranking_metrics(y, np.array([0.9, 0.8, 0.2, 0.1]))
    assert m["roc_auc"] == 0.0 and m["pr_auc"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    # unscored points are left out; one class only: no metric
    assert ranking_metrics(y, np.array([np.nan, 0.2, np.nan, 0.9]))["roc_auc"] == 1.0
    assert ranking_metrics(np.zeros(3, bool), np.arange(3.0)) == {}


def test_event_recall_counts_events_above_the_false_alarm_threshold():
    normal = np.linspace(0, 1, 101)  # the 0.99 quantile of normal points: 0.99
    s1 = np.concatenate([normal, [5.0, 0.2], [0.5]])
    y1 = np.concatenate([np.zeros(101, bool), [True, True], [False]])
    s2 = np.array([0.3, 0.98, 0.1])
    y2 = np.array([False, True, False])
    # event 1 peaks at 5 (found), event 2 peaks at 0.98 (below 0.99: missed)
    assert event_recall([s1, s2], [y1, y2], far=0.01) == pytest.approx(0.5)
    assert np.isnan(event_recall([s2], [np.ones(3, bool)], far=0.01))  # no normal points


def test_buffered_labels_ramp_down_beside_each_event():
    y = np.zeros(12, bool)
    y[5:7] = True
    # sqrt(1 - d / 4) at distance d from the event's first and last point: two points on
    # each side (TSB-AD's VUS)
    soft, runs = buffered_labels(y, 4)
    np.testing.assert_allclose(soft[3:9], [np.sqrt(0.5), np.sqrt(0.75), 1, 1, np.sqrt(0.75),
                                           np.sqrt(0.5)])
    assert soft[:3].sum() == soft[9:].sum() == 0 and runs == [(3, 9)]
    assert buffered_labels(y, 1)[1] == [(5, 7)]  # no margin below 2
    y[10] = True  # margins that overlap: one run
    assert buffered_labels(y, 4)[1] == [(3, 12)]
    y = np.zeros(20, bool)
    y[[5, 10]] = True  # widened to 3..7 and 8..12: adjacent, not overlapping
    assert buffered_labels(y, 4)[1] == [(3, 8), (8, 13)]


def _published_range_pr_auc(y, s, buffer):
    """The range-based PR-AUC of TSB-AD's VUS (`RangeAUC_volume_opt`, one buffer) written
    out loop by loop: the levels, each point's label weight, the positives counting half the
    flagged margin weight, the share of widened events touched, a step sum."""
    n, half = y.size, buffer // 2
    events = [(a, b - 1) for a, b in true_runs(y)]  # inclusive ends
    weight = y.astype(float)
    for a, e in events:
        for x in range(e + 1, min(e + half + 1, n)):
            weight[x] += np.sqrt(1 - (x - e) / buffer)
        for x in range(max(a - half, 0), a):
            weight[x] += np.sqrt(1 - (a - x) / buffer)
    weight = np.minimum(weight, 1)
    widened = []
    for a, e in events:
        if widened and widened[-1][1] + half >= a - half:
            widened[-1][1] = e
        else:
            widened.append([a, e])
    widened = [(max(a - half, 0), min(e + half, n - 1)) for a, e in widened]
    levels = np.sort(s)[::-1][np.linspace(0, s.size - 1, 250).astype(int)]
    recall, precision = [0.0], []
    for t in levels:
        pred = s >= t
        tp = sum(weight[i] for i in range(n) if pred[i])
        flagged_margin = sum(weight[i] for i in range(n) if pred[i] and not y[i])
        positives = (y.sum() + y.sum() + flagged_margin) / 2
        touched = np.mean([pred[a: e + 1].any() for a, e in widened])
        recall.append(min(tp / positives, 1) * touched)
        precision.append(tp / pred.sum())
    return float(sum((recall[k + 1] - recall[k]) * precision[k] for k in range(len(levels))))


def test_range_pr_auc_follows_the_published_definition():
    rng = np.random.default_rng(0)
    for trial in range(6):
        n = int(rng.integers(300, 2000))
        y = np.zeros(n, bool)
        for _ in range(int(rng.integers(1, 5))):
            a = int(rng.integers(0, n - 40))
            y[a: a + int(rng.integers(1, 30))] = True
        s = rng.normal(size=n) + 2.0 * y
        if trial % 2:
            s = np.round(s, 1)  # ties
        for buffer in (0, 1, 6, 25):
            assert range_pr_auc(y, s, buffer) == pytest.approx(
                _published_range_pr_auc(y, s, buffer), abs=1e-9)


def test_vus_pr_credits_flags_beside_the_event_and_whole_events():
    y = np.zeros(400, bool)
    y[100:110] = y[300:310] = True
    exact = y.astype(float)
    assert range_pr_auc(y, exact, 0) == pytest.approx(1.0)
    assert vus_pr(y, exact, 16) > 0.85  # the margins are positives it did not flag
    beside = np.zeros(400)
    beside[[98, 99, 110, 111, 298, 299, 310, 311]] = 1.0  # the edges, not the events
    assert ranking_metrics(y, beside)["pr_auc"] < 0.1
    assert vus_pr(y, beside, 16) > 0.2  # 0.28: the edges earn margin credit
    # flagging the peak of one event only: touches half the events
    one = np.zeros(400)
    one[104] = 1.0
    assert vus_pr(y, one, 16) < 0.7 * vus_pr(y, exact, 16)
    assert np.isnan(vus_pr(np.zeros(5, bool), np.arange(5.0), 4))
    # a constant score earns the share of (widened) event weight, not the 0.5 of a curve
    # integrated from precision 1 at recall 0
    share = np.mean([buffered_labels(y, b)[0].sum() / y.size for b in range(17)])
    assert vus_pr(y, np.zeros(400), 16) == pytest.approx(share)
    assert share < 0.1
    # unscored points (NaN) rank last
    assert vus_pr(y, np.where(y, 1.0, np.nan), 8) == pytest.approx(vus_pr(y, exact, 8))


def test_labels_of_three_kinds(tmp_path):
    ev = tmp_path / "ev.csv"
    ev.write_text("object_id,start,end\na,1,2\na,5,5\n")
    labels = read_labels(ev)
    y = point_truth("a", np.arange(7.0), labels)
    assert y.tolist() == [False, True, True, False, False, True, False]
    assert point_truth("b", np.arange(3.0), labels) is None
    pts = tmp_path / "pts.csv"
    pts.write_text("object_id,time,label\na,1,1\na,2,0\na,9,1\n")  # 9 is not a time of a
    y = point_truth("a", np.arange(4.0), read_labels(pts))
    assert y.tolist() == [False, True, False, False]
    objs = tmp_path / "objs.csv"
    objs.write_text("object_id,label\na,1\nb,0\n")
    assert read_labels(objs).objects == {"a": True, "b": False}
    bad = tmp_path / "bad.csv"
    bad.write_text("object_id,when\na,1\n")
    with pytest.raises(LabelError, match="expected object_id with start,end"):
        read_labels(bad)
    with pytest.raises(LabelError, match="not found"):
        read_labels(tmp_path / "none.csv")


def test_labels_name_their_columns_as_the_data_does(tmp_path):
    """A broker's export (ZTF's objectId, mjd) needs no renaming for its labels either."""
    objs = tmp_path / "objs.csv"
    objs.write_text("objectId,label\nZTF21a,1\nZTF21b,0\n")
    assert read_labels(objs).objects == {"ZTF21a": True, "ZTF21b": False}
    pts = tmp_path / "pts.csv"
    pts.write_text("oid,mjd,label\na,1,1\na,2,0\n")
    assert point_truth("a", np.arange(3.0), read_labels(pts)).tolist() == [False, True, False]
    windows = tmp_path / "windows.csv"  # one series' labels: no object id column
    windows.write_text("start,end\n1,2\n5,6\n")
    one = read_labels(windows).for_data(["nyc_taxi", "nyc_taxi"])
    assert one.events == {"nyc_taxi": [(1.0, 2.0), (5.0, 6.0)]}
    pts = tmp_path / "points.csv"
    pts.write_text("mjd,label\n1,1\n2,0\n")
    assert point_truth("a", np.arange(3.0), read_labels(pts).for_data(["a"])).tolist() == [
        False, True, False]
    with pytest.raises(LabelError, match=r"windows.csv: no object id column, and the data "
                       r"holds 2 objects \(\['a', 'b'\]\.\.\.\): add an object_id column"):
        read_labels(windows).for_data(["a", "b"])
    bad = tmp_path / "bad.csv"
    bad.write_text("who,label\na,1\n")
    with pytest.raises(LabelError, match=r"no object id column; columns are \['label', 'who'\], "
                       r"expected object_id or one of \['object_id', 'id'"):
        read_labels(bad)


def test_at_k_metrics_count_anomalies_among_the_first_k():
    from lcad.training.evaluate import at_k_metrics

    y = np.zeros(60, dtype=bool)
    y[[0, 1, 2, 30]] = True
    s = -np.arange(60.0)  # object 0 ranked first, 59 last
    m = at_k_metrics(y, s)
    assert m["precision_at_k"] == 0.75  # 3 of the first 4
    assert m["precision_at_10"] == pytest.approx(0.3) and m["recall_at_10"] == 0.75
    assert m["precision_at_50"] == pytest.approx(4 / 50) and m["recall_at_50"] == 1.0
    s[0] = np.nan  # unscored: ranks last
    assert at_k_metrics(y, s)["recall_at_50"] == 0.75
    assert "precision_at_10" not in at_k_metrics(y[:8], s[:8])  # k must be below n


def test_object_labels_get_the_survey_baseline_and_at_k(tmp_path):
    """Object labels: lcad's ranking beside light-curve features + Isolation Forest."""
    from lcad.models.config import DetectorConfig
    from lcad.models.fit import fit_detector
    from lcad.models.synthetic import synthetic_dataset
    from lcad.training.evaluate import Labels, evaluate

    curves, _ = synthetic_dataset(24, seed=5, kinds=("sinusoid",), n_points=400)
    rng = np.random.default_rng(0)
    for c in curves[-3:]:  # three odd objects: ten times the variability of the rest
        c.flux = 10.0 + 10 * (c.flux - 10.0) + rng.normal(0, 0.01, c.flux.size)
    det, _ = fit_detector(curves, DetectorConfig.from_dict(
        {"preprocess": {"window": 32}, "train": {"epochs": 2}}))
    labels = Labels("objects", objects={c.object_id: i >= 21 for i, c in enumerate(curves)})
    res = evaluate(det, curves, labels, baselines=True)
    base = res["methods"]["features_iforest"]
    assert base["roc_auc"] > 0.9 and base["precision_at_k"] >= 2 / 3
    assert {"precision_at_10", "recall_at_10", "pr_auc"} <= set(res["methods"]["lcad"])


def test_the_matrix_profile_baseline_joins_against_the_training_part_where_one_is_named():
    """`lcad evaluate --baselines`' matrix profile: a shape that occurs twice after the
    training part is each other's nearest neighbour in a self-join (found ordinary), and
    far from everything in the training part (found, both times) when the curve names one
    (UCR archive files)."""
    from lcad.models.config import DetectorConfig
    from lcad.models.fit import fit_detector
    from lcad.models.lightcurve import LightCurve
    from lcad.training.evaluate import matrix_profile_scores

    rng = np.random.default_rng(3)
    t = np.arange(2000.0)
    flux = np.sin(2 * np.pi * t / 50) + rng.normal(0, 0.05, t.size)
    odd = np.zeros(t.size, bool)
    for start in (1200, 1600):
        odd[start: start + 20] = True
    flux[odd] = 2.5  # one odd shape, twice
    curve = LightCurve("s", t, flux)
    det, _ = fit_detector([LightCurve("s", t[:800], flux[:800])], DetectorConfig.from_dict(
        {"preprocess": {"window": 16}, "train": {"epochs": 1}}))
    (joined,) = matrix_profile_scores(det, [curve], {"s": 800.0})
    (self_join,) = matrix_profile_scores(det, [curve], {})
    assert joined.shape == t.shape and np.isfinite(joined[800:]).all()
    near = np.convolve(odd, np.ones(2 * 16 + 1), "same") > 0  # within a window of the shape
    far = ~near & (t >= 800)
    for start in (1200, 1600):
        assert np.nanmax(joined[start: start + 20]) > 5 * np.nanmax(joined[far])
    assert np.nanmax(self_join[odd]) < np.nanmax(self_join[~near])


def test_without_stumpy_the_matrix_profile_is_left_out_with_a_note(monkeypatch):
    """stumpy is an extra (lcad[baselines]; the image has none): the other baselines run and
    a note says what is missing and how to add it, instead of a ModuleNotFoundError after
    lcad's own scoring (the compose stack's demo, session 36)."""
    import sys

    from lcad.models.config import DetectorConfig
    from lcad.models.fit import fit_detector
    from lcad.models.lightcurve import LightCurve
    from lcad.training.evaluate import BaselineNote, baseline_scores

    t = np.arange(600.0)
    curve = LightCurve("s", t, np.sin(t / 8) + np.random.default_rng(1).normal(0, .05, t.size))
    det, _ = fit_detector([curve], DetectorConfig.from_dict(
        {"preprocess": {"window": 16}, "train": {"epochs": 1}}))
    monkeypatch.setitem(sys.modules, "stumpy", None)  # import stumpy: ImportError
    with pytest.warns(BaselineNote, match=r"pip install 'lcad\[baselines\]'"):
        got = baseline_scores(det, [curve])
    assert set(got) == {"isolation_forest", "pca"} and got["pca"][0].shape == t.shape


def test_nab_label_files_with_numbers_or_timestamps(tmp_path):
    """NAB's JSON keyed by family/file: windows as timestamps (read as days since 1970, as
    the data's are) or as numbers (the data's own unit), anomaly times as events of no
    length; a file with no windows is labelled all normal."""
    windows = tmp_path / "w.json"
    windows.write_text('{"fam/a.csv": [["1970-01-03 00:00:00.000000", "1970-01-04"]], '
                       '"fam/b.csv": [[10, 12.5]], "fam/c.csv": []}')
    labels = read_labels(windows)
    assert labels.events == {"a": [(2.0, 3.0)], "b": [(10.0, 12.5)], "c": []}
    assert point_truth("c", np.arange(3.0), labels).tolist() == [False, False, False]
    times = tmp_path / "l.json"
    times.write_text('{"fam/a.csv": ["1970-01-02 12:00:00"]}')
    assert read_labels(times).events == {"a": [(1.5, 1.5)]}


def test_interval_metrics_count_events_touched_their_coverage_and_precision():
    from types import SimpleNamespace as Iv

    from lcad.training.evaluate import IntervalCounts, interval_mask

    t = np.arange(20) * 0.1  # grid times that round apart from these: 0.30000000000000004
    y = np.zeros(20, bool)
    y[3:7] = True  # an event of 4 points
    y[12:14] = True  # one no interval touches
    got = interval_mask(t, [Iv(start=0.1 * 3, end=0.1 * 4), Iv(start=1.7, end=1.9)])
    assert np.flatnonzero(got).tolist() == [3, 4, 17, 18, 19]
    counts = IntervalCounts()
    counts.add(y, got)
    m = counts.metrics()
    assert m["interval_found"] == 0.5 and m["interval_coverage"] == 0.5
    assert m["interval_precision"] == 2 / 5
    assert not interval_mask(t, []).any()
    empty = IntervalCounts()
    empty.add(y, np.zeros(20, bool))
    assert empty.metrics()["interval_found"] == 0.0
    assert np.isnan(empty.metrics()["interval_precision"])  # no interval: undefined


def test_the_evaluation_json_is_strict_undefined_metrics_are_null():
    """An undefined metric (NaN: lcad flagged no interval, so no interval precision) is
    written as null: Python's json writes a NaN token that strict parsers (JavaScript,
    jq) reject."""
    from lcad.training.evaluate import result_json

    text = result_json({"methods": {"lcad": {"pr_auc": np.float64(0.5),
                                             "interval_precision": float("nan"),
                                             "n": np.int64(3), "spans": [(1.0, np.inf)]}}})
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["methods"]["lcad"] == {"pr_auc": 0.5, "interval_precision": None,
                                                   "n": 3, "spans": [[1.0, None]]}
