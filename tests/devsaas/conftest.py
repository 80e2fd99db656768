"""Fixtures: real dev SaaS processes on loopback, torn down (and checked dead) after use."""

from __future__ import annotations

import os
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
def call(saas: DevSaas, token: str) -> Callable[..., Reply]:
    """`http` against the shared server with the shared token unless told otherwise."""

    def _call(method: str, path: str, body: object = None, **kwargs: Any) -> Reply:
        kwargs.setdefault("token", token)
        return http(saas, method, path, body, **kwargs)

    return _call
