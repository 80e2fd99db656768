"""The peer tier: the reference client, spec-kitty-cli 3.2.7, unchanged, as the judge.

It ships a ``spec-kitty`` script and a ``specify_cli`` package of its own, so it lives in a venv of its
own, never the project's: built once under the temp dir (``SPEC_KITTY_PEER_VENV`` overrides where) and
reused by later runs; a marker written after a complete install tells a finished venv from one a killed
run left half-built. The registry is reachable from CI; where it is not, the tier fails loudly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from speckitty import Warm
from support.peer_venv import ensure_reference_client, peer_venv_dir

from devsaas.testing import DevSaas, start_dev_saas


@pytest.fixture(scope="session")
def reference_bin() -> Path:
    """The folder with the reference client's ``spec-kitty`` (run it with HOME in a scratch folder)."""
    return ensure_reference_client(peer_venv_dir())


@pytest.fixture(scope="session", autouse=True)
def _close_warm_servers() -> Iterator[None]:
    """The reference client's fork servers (``speckitty.Warm``) end with the session."""
    yield
    for server in list(Warm.running):
        server.close()


@pytest.fixture(scope="module")
def saas() -> Iterator[DevSaas]:
    """A fresh dev SaaS per module, approving device codes only when a person (the test) does."""
    with start_dev_saas(auto_approve=False) as server:
        yield server
