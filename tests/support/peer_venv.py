"""The reference client's own venv (spec-kitty-cli 3.2.7): where it lives and how it is built, once.

It ships a ``spec-kitty`` script and a ``specify_cli`` package of its own, so it lives in a venv of its
own, never the project's: built under the temp dir (``SPEC_KITTY_PEER_VENV`` overrides where) and reused
by later runs; a marker written after a complete install tells a finished venv from one a killed run left
half-built. Shared by the peer tier's fixture and the session start that begins the build early.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import fasteners

REFERENCE = "spec-kitty-cli==3.2.7"


def peer_venv_dir() -> Path:
    chosen = os.environ.get("SPEC_KITTY_PEER_VENV")
    return Path(chosen) if chosen else Path(tempfile.gettempdir()) / "spec-kitty-peer" / REFERENCE.replace("==", "-")


def ensure_reference_client(where: Path) -> Path:
    """The ``bin`` folder of a venv holding the reference client; built on first use, under a lock so two
    test processes never install into one folder at once."""
    where.parent.mkdir(parents=True, exist_ok=True)
    marker = where / ".complete"
    with fasteners.InterProcessLock(str(where.parent / f".{where.name}.lock")):
        if not marker.exists():
            shutil.rmtree(where, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
            subprocess.run([str(where / "bin" / "python"), "-m", "pip", "install", "--quiet", REFERENCE],
                           check=True, timeout=900)
            marker.write_text(REFERENCE + "\n")
    return where / "bin"
