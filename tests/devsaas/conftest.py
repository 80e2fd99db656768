"""Fixtures: real dev SaaS processes on loopback, torn down (and checked dead) after use."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from devsaas_helpers import Reply, http

from devsaas.testing import DevSaas, start_dev_saas


def _assert_gone(pid: int) -> None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    pytest.fail(f"dev SaaS pid {pid} outlived its fixture")


@pytest.fixture(scope="session")
def saas() -> Iterator[DevSaas]:
    """The shared auto-approving server; tests isolate themselves by project/mission names."""
    with start_dev_saas() as server:
        pid = server.pid
        yield server
    _assert_gone(pid)


@pytest.fixture(scope="session")
def manual_saas() -> Iterator[DevSaas]:
    """No auto-approve, and device codes that expire fast enough to watch them expire."""
    with start_dev_saas(auto_approve=False, device_expiry=2) as server:
        pid = server.pid
        yield server
    _assert_gone(pid)


@pytest.fixture(scope="session")
def token(saas: DevSaas) -> str:
    return saas.issue_token()


@pytest.fixture
def mission() -> tuple[str, str]:
    """A project/mission pair no other test uses."""
    suffix = uuid.uuid4().hex[:10]
    return f"proj-{suffix}", f"mission-{suffix}"


@pytest.fixture
def mission_path(mission: tuple[str, str]) -> str:
    return f"/api/v1/projects/{mission[0]}/missions/{mission[1]}"


@pytest.fixture
def bound(mission_path: str) -> str:
    """The old per-mission event route of a fresh project/mission (it needs no binding any more)."""
    return mission_path


@pytest.fixture
def call(saas: DevSaas, token: str) -> Callable[..., Reply]:
    """`http` against the shared server with the shared token unless told otherwise."""

    def _call(method: str, path: str, body: object = None, **kwargs: Any) -> Reply:
        kwargs.setdefault("token", token)
        return http(saas, method, path, body, **kwargs)

    return _call
