"""Everything that touches the world, one room per domain; ``states`` decides, this package does.

- ``home``     — the ``~/.spec-kitty`` home: paths, ``config.toml``, the rollout flag, safe file helpers, limits.
- ``missions`` — a mission's ``status.events.jsonl``: handles, reading and folding the log, the saved fold,
  event ids, ``status.json`` as spec-kitty writes it, and appending a move.
- ``project``  — the project's identity in ``.kittify/config.yaml`` and spec-kitty's lamport clock.
- ``sessions`` — the token store, login, refresh and logout against one host.
- ``saas``     — the hosted Spec Kitty SaaS protocol client (HTTP, only imported by commands that go remote).
- ``sync``     — the durable queue, envelopes, uploading a batch and what ``sync status`` reports.
- ``tracker``  — the tracker binding and the tracker's pull and push.
- ``daemon``   — the background sync daemon, its lock and its control calls.
- ``context``  — ``Context``: one invocation's environment, folder, clock, home, config, sessions and SaaS client
  factory, built once at the CLI edge; what facts are gathered from and what commands are handed.
- ``facts``    — ``LiveFacts``: what the readiness machine in ``states`` is asked about, read from a context.
"""

__version__ = "0.1.0"
