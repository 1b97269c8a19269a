"""Multi-process training: `lcad train --processes N` on the JAX backend.

The launcher starts N copies of the same `lcad train` command on this machine, each with
Keras' distribution variables set (`KERAS_DISTRIBUTION_JOB_ADDRESSES`: the coordinator,
process 0, on a free local port; `..._NUM_PROCESSES`; `..._PROCESS_ID`) and
`KERAS_BACKEND=jax`. Each copy joins the cluster (`keras.distribution.initialize`, i.e.
`jax.distributed.initialize`) and trains under `keras.distribution.DataParallel`, feeding
its part of every global batch (models/parallel.py). Process 0 tracks the run (the number
of processes is the param `train.processes`), writes the bundle and prints; the others
keep quiet and write nothing. On several hosts, run the same `lcad train` on each with
those variables set (docs/scale.md): no launcher needed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess  # this Python running lcad itself, no shell  # nosec B404
import sys
import tempfile
import time
from pathlib import Path

from lcad.models.errors import ConfigError

ADDRESS = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
PROCESSES = "KERAS_DISTRIBUTION_NUM_PROCESSES"
PROCESS_ID = "KERAS_DISTRIBUTION_PROCESS_ID"


def in_cluster() -> bool:
    """This process was started as one of several trainers (the variables are set)."""
    return PROCESSES in os.environ


def join() -> tuple[int, int]:
    """Join the cluster and train data-parallel from here on: (this process, processes)."""
    import keras

    if keras.backend.backend() != "jax":
        raise ConfigError(f"{PROCESSES} is set but the Keras backend is "
                          f"{keras.backend.backend()}: multi-process training runs on JAX "
                          "(KERAS_BACKEND=jax; `lcad train --processes N` sets it)")
    keras.distribution.initialize()  # reads the three variables
    # every process's devices (GPUs, else CPUs); each process feeds its own share of a
    # global batch (models/parallel.py), so Keras must not shard the data again
    dist = keras.distribution.DataParallel(auto_shard_dataset=False)
    keras.distribution.set_distribution(dist)
    return int(dist.data_shard_id), int(dist.num_processes)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(argv: list[str], processes: int) -> int:
    """Run `lcad <argv>` as `processes` cooperating trainers on this machine; process 0's
    output is this command's; another's error output is shown if it fails."""
    try:
        import jax  # noqa: F401
    except ImportError:
        raise ConfigError("--processes trains on the JAX backend: pip install 'lcad[jax]'") \
            from None
    env = {**os.environ, "KERAS_BACKEND": "jax", ADDRESS: f"127.0.0.1:{free_port()}",
           PROCESSES: str(processes)}
    logs = Path(tempfile.mkdtemp(prefix="lcad-trainers-"))
    procs = []
    for rank in range(processes):
        quiet = rank > 0
        err = open(logs / f"process-{rank}.log", "w") if quiet else None  # noqa: SIM115
        procs.append((rank, err, subprocess.Popen(  # our own argv, no shell  # nosec B603
            [sys.executable, "-m", "lcad.cli", *argv], env={**env, PROCESS_ID: str(rank)},
            stdout=subprocess.DEVNULL if quiet else None, stderr=err)))
    code = 0
    try:
        while any(p.poll() is None for _, _, p in procs):
            failed = [(r, p) for r, _, p in procs if p.returncode not in (None, 0)]
            if failed:  # one trainer died: the others would wait for it forever
                code = failed[0][1].returncode
                break
            time.sleep(0.2)
        for _rank, _, p in procs:
            if p.poll() is None:
                p.terminate()
            p.wait()
            if p.returncode != 0 and not code:
                code = p.returncode
    finally:
        for rank, err, p in procs:
            if err is not None:
                err.close()
                if p.returncode not in (0, -15):
                    tail = (logs / f"process-{rank}.log").read_text()[-3000:]
                    print(f"training process {rank} failed:\n{tail}", file=sys.stderr)
        shutil.rmtree(logs, ignore_errors=True)
    return code
