"""``run_with_client``: the one way synchronous runtime code talks to the host.

Given the real dev SaaS app on loopback, when a command's call runs through ``run_with_client``, then it
gets the answer, the client's options apply, the client is closed afterwards, and a session reaches
only its own origin (a session for another host is never sent; the call fails with the catalog line).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.loopback_saas import LoopbackSaas

from orchestrator.saas.client import SaasClient, run_with_client
from orchestrator.saas.errors import NoSessionForHost
from orchestrator.sessions.store import Credentials, Session
from states import catalog


@pytest.fixture
def saas(tmp_path: Path) -> Iterator[LoopbackSaas]:
    for running in LoopbackSaas(tmp_path / "saas.sqlite3").serve():
        running.issue_token()
        yield running


def test_the_call_gets_the_answer_with_the_options_given_and_the_client_is_closed(saas: LoopbackSaas) -> None:
    used: list[SaasClient] = []

    async def me(client: SaasClient) -> dict[str, Any]:
        used.append(client)
        assert (client.retries, client.timeout) == (1, 10)
        return await client.me()

    assert run_with_client(saas.url, saas.token, me, retries=1, timeout=10)["name"] == "dev"
    assert used[0]._session is None  # closed


def test_a_session_for_another_host_is_never_sent(saas: LoopbackSaas) -> None:
    elsewhere = Credentials(Session(saas.token, "https://saas.example.com"))
    with pytest.raises(NoSessionForHost) as raised:
        run_with_client(saas.url, elsewhere, lambda client: client.me())
    assert str(raised.value) == catalog.UNAUTHED_OTHER_HOST.filled(url=saas.url).message
