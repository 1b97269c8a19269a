"""Small shared pieces of the benchmarks: machine description, repeats, a markdown table,
its report."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if "model name" in line)
    except (OSError, StopIteration):
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kb = int(next(line.split()[1] for line in fh if line.startswith("MemTotal")))
        mem = f", {kb / 2**20:.0f} GiB"
    except (OSError, StopIteration):
        pass
    gpu = ""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            gpu = ", GPU " + out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}{gpu}"


def repeat(fn: Callable[[], float], n: int = 3) -> dict[str, float]:
    """Median and spread (min, max) of `n` measurements."""
    return summarize([fn() for _ in range(n)])


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Median and spread (min, max) of measurements."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def fmt(stat: dict[str, float], unit: str = "", digits: int = 3) -> str:
    return (f"{stat['median']:.{digits}g}{unit} ({stat['min']:.{digits}g}-"
            f"{stat['max']:.{digits}g})")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def heading(module: str, argv: Sequence[str] | None) -> str:
    """The first lines of a results file: the command that gives it, and the machine."""
    import sys

    args = list(argv) if argv is not None else sys.argv[1:]
    return f"# {' '.join(['python -m ' + module, *args])}\n{machine()}\n\n"


def report(text: str, out: Path | None) -> None:
    """Print a bench's text and, given a path, write it there (folders made)."""
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


# ---- benches that score families of series with several methods and decide left one out ----
def family_mean(res: dict[str, Any], family: str, method: str, key: str = "pr_auc") -> float:
    """Mean of `key` over a family's series (res["families"][family]["methods"][method])."""
    per = res["families"][family]["methods"][method]["per_series"]
    return float(sum(r[key] for r in per) / len(per))


def leave_one_family_out(res: dict[str, Any], methods: Sequence[str]
                         ) -> list[tuple[str, str, float, str, float]]:
    """Per family left out: the method with the best mean over the other families' means,
    its mean on the one left out, and the best method there in hindsight with its mean."""
    fams = list(res["families"])
    out = []
    for f in fams:
        rest = [g for g in fams if g != f]
        chosen = max(methods, key=lambda m: sum(family_mean(res, g, m) for g in rest))
        top = max(methods, key=lambda m: family_mean(res, f, m))
        out.append((f, chosen, family_mean(res, f, chosen), top, family_mean(res, f, top)))
    return out


def run_or_report(action: str, out: Any, run: Callable[[], dict[str, Any]],
                  report: Callable[[dict[str, Any]], str]) -> int:
    """`run`: measure, write `out` (JSON) and its report beside it (.txt); `report`: the
    report again from `out`. The report is printed either way."""
    import json

    if action == "run":
        res = run()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=1, default=float))
    else:
        res = json.loads(out.read_text())
    text = report(res)
    print(text)
    if action == "run":
        out.with_suffix(".txt").write_text(text + "\n")
    return 0
