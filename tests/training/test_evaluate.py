"""Evaluation metrics and labels against hand-computed values."""

import numpy as np
import pytest

from lcad.training.evaluate import (
    LabelError,
    event_recall,
    point_truth,
    ranking_metrics,
    read_labels,
    true_runs,
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
