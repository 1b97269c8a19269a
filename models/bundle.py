"""The bundle on disk: a directory written atomically, with checksums, and recovered after
a crash between the two renames of a save. What goes in it is the Detector's business
(`Detector.save` / `Detector.load`); how it gets there safely is this module's.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from lcad.models.errors import BundleError

CONFIG_FILE, MODEL_FILE, CALIBRATION_FILE = "config.json", "model.keras", "calibration.json"


def write_bundle(target: Path, fill: Callable[[Path], dict[str, Any]]) -> Path:
    """`fill(tmp)` writes the bundle's files into a fresh directory and returns the
    metadata; the checksums of every file are added to it as config.json, then the directory
    replaces `target`. A crash leaves the old bundle (or nothing), never half of one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        meta = fill(tmp)
        meta["files"] = {f.name: sha256(f) for f in sorted(tmp.iterdir()) if f.is_file()}
        write_json(tmp / CONFIG_FILE, meta)
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            os.replace(target, old)
            os.replace(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # the new bundle is in place: previous bundles (and any left by a crash) can go
    for stale in target.parent.glob(f".{target.name}.old-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return target


def verify_files(root: Path, meta: dict[str, Any], required: Iterable[str]) -> None:
    """Every required file and every file the metadata lists is there, with its checksum."""
    listed = meta.get("files", {})
    for name in dict.fromkeys([*required, *listed]):
        f = root / name
        if not f.is_file():
            raise BundleError(f, "file is missing")
        expected = listed.get(name)
        if expected and sha256(f) != expected:
            raise BundleError(f, "checksum mismatch: the file is truncated or was modified")


def bundle_root(path: Path) -> Path:
    """The bundle directory at `path`, or the previous one a crashed save left beside it."""
    if (path / CONFIG_FILE).is_file():
        return path
    # a crash between the two renames of save(): the previous bundle is still beside it
    backups = sorted(path.parent.glob(f".{path.name}.old-*"))
    if not path.exists() and backups and (backups[-1] / CONFIG_FILE).is_file():
        warnings.warn(f"{path} missing; loading the previous bundle {backups[-1]}",
                      stacklevel=3)
        return backups[-1]
    if not path.exists():
        raise BundleError(path, "bundle not found")
    if not path.is_dir():
        raise BundleError(path, "not a bundle directory")
    raise BundleError(path / CONFIG_FILE, "file is missing: not an lcad bundle")


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BundleError(path, "file is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(path, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BundleError(path, "expected a JSON object")
    return data


def write_json(path: Path, data: dict[str, Any]) -> None:
    with open(path, "w") as fh:
        json.dump(data, fh, indent=2, allow_nan=False, default=_json_default)
        fh.flush()
        os.fsync(fh.fileno())


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
