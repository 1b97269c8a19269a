"""The installed lcad's version and source commit, from its package metadata.

The version is the distribution's (`importlib.metadata`). The commit comes from where the
package was installed from (PEP 610 `direct_url.json`): a VCS install records it; an
editable install points at a working tree, where git is asked; anything else (a wheel, the
image) says "unknown" unless `LCAD_GIT_COMMIT` is set (the image sets it at build time).
git never runs inside site-packages.
"""

from __future__ import annotations

import json
import os
import subprocess  # git with fixed arguments, no shell  # nosec B404
from functools import cache
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

DIST = "lcad"


def _version() -> str:
    try:
        return metadata.version(DIST)
    except metadata.PackageNotFoundError:  # run from a tree that was never installed
        return "0+unknown"


__version__ = _version()


def _direct_url() -> dict:
    try:
        text = metadata.distribution(DIST).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return {}
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}


@cache
def git_commit() -> str:
    """The commit this lcad was installed from, or "unknown"."""
    env = os.environ.get("LCAD_GIT_COMMIT", "").strip()
    if env:
        return env
    info = _direct_url()
    if "vcs_info" in info:
        return str(info["vcs_info"].get("commit_id", "unknown"))
    if not info.get("dir_info", {}).get("editable"):
        return "unknown"
    url = urlparse(info.get("url", ""))
    tree = Path(unquote(url.path))
    if url.scheme != "file" or not (tree / ".git").exists():
        return "unknown"
    try:
        # fixed arguments, no shell; the working tree of an editable install only
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tree,  # nosec B603 B607
                             capture_output=True, text=True, timeout=5, check=False)
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"
