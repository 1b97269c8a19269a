"""Batch scoring's parts: ordered parallel map (bounded), table writers, object rows."""

import dataclasses
import pickle
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from lcad.models.lightcurve import LightCurve
from lcad.training.scoring import (
    CurveChunk,
    TableWriter,
    objects_path,
    ordered_map,
    prefetched,
)


@pytest.mark.parametrize("workers", [1, 3])
def test_ordered_map_keeps_order_and_bounds_what_is_pending(workers):
    running, most = 0, 0
    lock = threading.Lock()

    def slow(i):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01 * (5 - i % 5))  # later items finish first
        with lock:
            running -= 1
        return i * i

    assert list(ordered_map(slow, range(20), workers)) == [i * i for i in range(20)]
    assert most <= workers


def test_ordered_map_stops_feeding_when_the_consumer_stops():
    fed = []

    def items():
        for i in range(1000):
            fed.append(i)
            yield i

    for out in ordered_map(lambda i: i, items(), workers=2):
        if out == 3:
            break
    assert len(fed) <= 3 + 2 + 1  # never more than workers + 1 ahead


def test_prefetched_reads_the_next_item_while_this_one_is_used_and_stops_with_the_consumer():
    """The next piece is produced (read) while the caller works on this one, in order; a
    producer's error is raised in its place, after the items before it; a caller that stops
    early stops the producer, which reads at most one item more."""
    produced = []

    def items(fail_at=None):
        for i in range(100):
            if i == fail_at:
                raise ValueError("piece 4 cannot be read")
            produced.append(i)
            yield i

    out = []
    for i in prefetched(items()):
        time.sleep(0.002)
        out.append(i)
    assert out == list(range(100))

    seen = []
    with pytest.raises(ValueError, match="piece 4"):
        for i in prefetched(items(fail_at=4)):
            seen.append(i)
    assert seen == [0, 1, 2, 3]

    produced.clear()
    for i in prefetched(items()):
        time.sleep(0.05)  # the producer has time to run ahead
        if i == 2:
            break
    time.sleep(0.3)
    assert 3 <= len(produced) <= 5  # the item used, one waiting, one being produced
    assert not [t for t in threading.enumerate() if t.name == "lcad-read"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_writer_appends_and_writes_headers_when_empty(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    w = TableWriter(path)
    w.write(pd.DataFrame({"object_id": pd.Categorical(["a"]), "score": [1.0]}))
    w.write(pd.DataFrame({"object_id": pd.Categorical(["b", "c"]), "score": [2.0, 3.0]}))
    w.close(["object_id", "score"])
    got = pd.read_csv(path) if suffix == ".csv" else pq.read_table(path).to_pandas()
    assert got["object_id"].astype(str).tolist() == ["a", "b", "c"]
    assert got["score"].tolist() == [1.0, 2.0, 3.0]
    empty = TableWriter(tmp_path / f"empty{suffix}")
    empty.close(["object_id", "score"])
    e = pd.read_csv(tmp_path / f"empty{suffix}") if suffix == ".csv" else \
        pq.read_table(tmp_path / f"empty{suffix}").to_pandas()
    assert list(e.columns) == ["object_id", "score"] and e.empty


def test_objects_file_sits_beside_the_points_file(tmp_path):
    assert objects_path(tmp_path / "s.parquet") == tmp_path / "s.objects.parquet"


_FAULTS = """
import resource, sys
import numpy as np
if sys.argv[1] == "kept":
    from lcad.training.scoring import keep_freed_memory
    assert keep_freed_memory()
    import pyarrow as pa
    assert pa.default_memory_pool().backend_name == "system"
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):  # a chunk's arrays (3 x 8 MB), made, written and freed
    arrays = [np.ones(1 << 20) for _ in range(3)]
    del arrays
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc")
def test_keep_freed_memory_stops_each_chunk_faulting_its_arrays_in_anew():
    """Without it, glibc hands freed memory back (the 24 MB exceed the trim threshold it
    adapts to) and faults it in again page by page (~41,000 faults, an 8 MB array's 2,048
    pages each time); with it, freed memory is reused (~1,500)."""
    faults = {how: int(subprocess.run([sys.executable, "-c", _FAULTS, how], check=True,
                                      capture_output=True, text=True).stdout)
              for how in ("default", "kept")}
    assert faults["default"] > 20_000
    assert faults["kept"] < 6_000


def test_a_curve_chunk_comes_back_from_pickling_with_equal_curves():
    """What a scoring process receives: every field of every curve, bands or none, errors
    or none, repairs and units, even an empty chunk."""
    rng = np.random.default_rng(0)
    curves = [
        LightCurve.from_arrays("a", np.arange(6.0), rng.normal(size=6), np.full(6, 0.1),
                               ["g", "r"] * 3, emit_warnings=False),
        LightCurve.from_arrays("b", [3.0, 1.0, 2.0, np.nan], [1.0, np.nan, 2.0, 3.0],
                               emit_warnings=False),
        LightCurve.from_arrays("c", np.arange(3.0), [20.0, 21.0, 100.0], [0.1, 0.1, 99.9],
                               ["i", "i", "z"], unit="mag", emit_warnings=False),
    ]
    assert curves[1].warnings and curves[2].unit == "mag"  # repairs to carry
    for chunk in (curves, curves[1:2], []):
        back = pickle.loads(pickle.dumps(CurveChunk(chunk))).curves
        assert len(back) == len(chunk)
        for c, d in zip(chunk, back, strict=True):
            assert dataclasses.fields(c) == dataclasses.fields(d)
            for f in dataclasses.fields(c):
                a, b = getattr(c, f.name), getattr(d, f.name)
                if isinstance(a, np.ndarray):
                    assert a.dtype == b.dtype
                    np.testing.assert_array_equal(a, b)
                else:
                    assert a == b, f.name
