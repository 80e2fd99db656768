"""The stealth guard, shipped so downstream suites can prove "no socket, no process, no write" too.

``sitecustomize.py`` in this folder is loaded by any Python process that has the folder first on
``PYTHONPATH`` (the installed ``spec-kitty`` console script included). It installs a
``sys.addaudithook`` that records every socket, network and process-creation audit event and every
write under the watched folders, one JSON line each, to the file named by ``SK_GUARD_RECORD``. It
records rather than blocks, so the guarded program behaves (and prints) exactly as for an operator;
the test then asserts on the record. It is also the project's own test guard (``tests/support/cli.py``
runs every CLI test under it), so what downstream suites get is what this suite exercises.

The ``stealth_guard`` fixture of ``spec_kitty_testing.plugin`` wires this up; use these names to
drive it by hand.
"""

from __future__ import annotations

from pathlib import Path

GUARD_DIR = Path(__file__).resolve().parent
RECORD_ENV = "SK_GUARD_RECORD"  # where the record is appended (the guard is inert without it)
DIRS_ENV = "SK_GUARD_DIRS"  # os.pathsep-separated folders whose writes are recorded
MODULES_ENV = "SK_GUARD_MODULES"  # optional: sys.modules names are written here at exit
