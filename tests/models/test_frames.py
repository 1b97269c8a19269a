"""The one frame -> curves path: columns by role, a repairing mode and a strict mode."""

import numpy as np
import pandas as pd
import pytest

from lcad.models.errors import DataError
from lcad.models.frames import curves_from_frame

FRAME = pd.DataFrame({"ID": ["b", "a", "b", "a"], "MJD": [2.0, 1.0, 1.0, 0.0],
                      "Flux": [1.0, np.nan, 3.0, 4.0]})


def test_repairing_mode_groups_sorts_masks_and_reports():
    a, b = sorted(curves_from_frame(FRAME), key=lambda c: c.object_id)
    assert (a.object_id, b.object_id) == ("a", "b")
    assert a.time.tolist() == [0.0, 1.0] and a.mask.tolist() == [True, False]
    assert any("non-finite flux" in w for w in a.warnings)
    assert b.time.tolist() == [1.0, 2.0] and b.flux.tolist() == [3.0, 1.0]
    assert any("not sorted" in w for w in b.warnings)


def test_strict_mode_names_the_object_and_the_value():
    with pytest.raises(DataError, match=r"body: light curve 'b', time: times are not sorted"):
        curves_from_frame(FRAME, "body", strict=True)
    clean = FRAME.sort_values(["ID", "MJD"])
    with pytest.raises(DataError, match=r"light curve 'a', flux\[1\]: is NaN"):
        curves_from_frame(clean, "body", strict=True)
    ok = curves_from_frame(clean.fillna(2.0), "body", strict=True)
    assert [len(c) for c in ok] == [2, 2] and not any(c.warnings for c in ok)


def test_columns_are_found_by_role_or_named():
    with pytest.raises(DataError, match=r"no flux column; columns are \['t', 'v'\]"):
        curves_from_frame(pd.DataFrame({"t": [1.0], "v": [1.0]}))
    (c,) = curves_from_frame(pd.DataFrame({"t": [1.0, 2.0], "v": [1.0, 2.0]}),
                             columns={"flux": "v"})
    assert c.object_id == "series" and c.flux.tolist() == [1.0, 2.0]


def test_the_service_imports_nothing_from_training_and_training_nothing_from_the_service():
    from tests.conftest import ROOT

    for folder, forbidden in (("service", "lcad.training"), ("training", "lcad.service"),
                              ("models", "lcad.training"), ("models", "lcad.service")):
        users = [p.name for p in (ROOT / folder).rglob("*.py") if forbidden in p.read_text()]
        assert not users, f"{folder}/ imports {forbidden}: {users}"


def test_an_empty_error_column_means_no_errors():
    """A table written with an empty flux_err column (the demo's evaluation CSV) is read as
    curves without errors, not as curves whose every point is masked."""
    frame = pd.DataFrame({"object_id": ["a"] * 3, "time": [0.0, 1.0, 2.0],
                          "flux": [1.0, 2.0, 3.0], "flux_err": [np.nan] * 3})
    (c,) = curves_from_frame(frame)
    assert c.flux_err is None and c.mask.all() and not c.warnings
    frame.loc[1, "flux_err"] = 0.1  # a partly filled column is kept (and repaired)
    (c,) = curves_from_frame(frame)
    assert c.flux_err is not None and c.mask.tolist() == [False, True, False]
