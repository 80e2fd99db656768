"""The background sync daemon: one per ``SPEC_KITTY_HOME``, spawned on demand, gone when idle.

Layout, cheapest first, because the CLI imports only what its path needs:

- ``state``  — the state file and the loopback control calls (stdlib only; ``spec-kitty status`` uses it).
- ``life``   — the raw facts about this home's daemon and the daemon-life machine's answer
  (``states.daemon_life``): every "is it running, whose is it" decision asks it (stdlib only).
- ``lock``   — the inter-process lock that *is* the daemon's identity, and who holds it (``fcntl``).
- ``client`` — ``ensure_daemon`` / sync-now / stop for the CLI (stdlib only: no aiohttp, no asyncio).
- ``server`` — the daemon process's lifecycle: bind, publish state, housekeeping, retire.
- ``control``, ``jobs``, ``scheduler``, ``targets``, ``settings``, ``logs`` — the daemon's parts
  (loopback API, waited-for jobs, when targets sync, what one sync is, config re-reads, its log file).
- ``__main__`` — ``python -m orchestrator.daemon``: takes the lock first, then imports ``server``.

This module stays empty of imports so that touching the package costs nothing.
"""

MODULE = "orchestrator.daemon"
