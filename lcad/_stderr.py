"""Keep other libraries' start-up noise off a user's terminal.

TensorFlow's C++ runtime writes to file descriptor 2 while it loads, before its own log
level applies ("All log messages before absl::InitializeLog()", "Could not find cuda
drivers", "failed call to cuInit" on a CPU machine, CPU-feature notices). `filter_stderr`
puts a pipe on fd 2 and a thread that drops exactly those lines and passes everything else
through unchanged; `LCAD_VERBOSE=1` (`lcad --verbose`) turns it off. MLflow's registry lines
("Successfully registered model", "Created version") go too: lcad prints its own.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import sys
import threading

NOISE = re.compile(
    rb"All log messages before absl::InitializeLog|cudart_stub\.cc|cuda_platform\.cc|"
    rb"cuda_executor\.cc|cuda_dnn\.cc|cuda_fft\.cc|cuda_blas\.cc|cpu_feature_guard\.cc|"
    rb"To enable the following instructions|rebuild TensorFlow with the appropriate compiler|"
    rb"oneDNN custom operations are on|TF_ENABLE_ONEDNN_OPTS|Unable to register cu(DNN|FFT|BLAS)"
    rb"|computation placer already registered|absl::InitializeLog\(\)"
    # MLflow's registry prints these itself; lcad says the registered name and version
    rb"|^Successfully registered model '|^Created version '\d+' of model '"
    rb"|^Registered model '.+' already exists\. Creating a new version")


DRAINED = b"\x00lcad: stderr drained\x00"  # restore()'s last line through the pipe


def is_noise(line: bytes) -> bool:
    return NOISE.search(line) is not None


def filter_stderr() -> None:
    """Install the filter on fd 2 for the rest of the process (once; not when verbose)."""
    if os.environ.get("LCAD_VERBOSE") == "1" or getattr(filter_stderr, "installed", False):
        return
    filter_stderr.installed = True  # type: ignore[attr-defined]
    real = os.dup(2)
    read_end, write_end = os.pipe()
    sys.stderr.flush()
    os.dup2(write_end, 2)
    marker_end = write_end  # kept: restore() writes DRAINED through it
    drained = threading.Event()

    def pump() -> None:
        pending = b""
        with os.fdopen(read_end, "rb", buffering=0) as src:
            while chunk := src.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                out = b"".join(line + b"\n" for line in lines
                               if DRAINED not in line and not is_noise(line))
                for line in lines:  # the marker ends the line it was written after
                    if DRAINED in line:
                        last = line[: line.index(DRAINED)]
                        out += b"" if is_noise(last) else last
                        drained.set()
                if out:
                    os.write(real, out)
        if pending and not is_noise(pending):
            os.write(real, pending)
        drained.set()

    thread = threading.Thread(target=pump, name="lcad-stderr", daemon=True)
    thread.start()

    def restore() -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(real, 2)
        # child processes (multiprocessing's resource tracker, scoring processes) may hold
        # the pipe open past this process's end: wait for what this process wrote, up to
        # the marker written after it, not for the pipe to close
        with contextlib.suppress(OSError):
            os.write(marker_end, DRAINED + b"\n")
            os.close(marker_end)
        drained.wait(timeout=5)

    atexit.register(restore)
