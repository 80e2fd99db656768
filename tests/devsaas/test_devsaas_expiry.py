"""Device codes expire on the server's clock: the in-process dev SaaS app with its clock moved by hand.

Given a device code with a two-second lifetime, when the clock passes its expiry, then polling and
approving both answer ``expired_token``; no test waits for real seconds to pass.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devsaas_helpers import http
from support.clock import HandClock as Clock
from support.loopback_saas import LoopbackSaas


@pytest.fixture
def clock() -> Clock:
    return Clock(time.time())


@pytest.fixture
def saas(tmp_path: Path, clock: Clock) -> Iterator[LoopbackSaas]:
    yield from LoopbackSaas(tmp_path / "saas.sqlite3", device_expiry=2, clock=clock).serve()


def new_code(saas: LoopbackSaas) -> dict[str, Any]:
    reply = http(saas, "POST", "/api/v1/auth/device/code", {"client_id": "spec-kitty-cli"})  # type: ignore[arg-type]
    assert reply.status == 200
    return reply.json


def poll(saas: LoopbackSaas, device_code: str) -> dict[str, Any]:
    return http(saas, "POST", "/api/v1/auth/device/token", {"device_code": device_code}).json  # type: ignore[arg-type]


def test_a_device_code_is_pending_until_its_expiry_then_expired(saas: LoopbackSaas, clock: Clock) -> None:
    code = new_code(saas)
    clock.now += 1.9
    assert poll(saas, code["device_code"])["error"] == "authorization_pending"
    clock.now += 0.1
    assert poll(saas, code["device_code"])["error"] == "expired_token"


def test_an_expired_code_cannot_be_approved(saas: LoopbackSaas, clock: Clock) -> None:
    code = new_code(saas)
    clock.now += 2
    reply = http(saas, "POST", "/api/v1/admin/device/approve", {"user_code": code["user_code"]})  # type: ignore[arg-type]
    assert (reply.status, reply.json["error"]) == (400, "expired_token")
