"""Gathering the machine's facts from the world: env, config, auth file, repo binding.

Every fact is a ``cached_property``: the machine asks only for what the command's need requires, so
``--help`` reads one environment variable and ``status`` never probes the host. Each fact also knows
where it came from (``source``) so ``sync explain`` can point at the env var or file to fix.

The facts only gather: the environment, config, session store, clock and current folder they read come
from one ``orchestrator.context.Context`` (built once at the CLI edge), and whatever else a command needs
(warnings to print, a SaaS client, the environment itself) it takes from that context, not from here.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from orchestrator.home.rollout import is_truthy
from states.catalog import (
    ENV_URL_SOURCE,
    SAAS_SYNC_ENV_VAR,
    SAAS_TOKEN_ENV_VAR,
    SAAS_URL_ENV_VAR,
    SYNC_DISABLE_ENV_VAR,
)

if TYPE_CHECKING:  # types only: a Protocol class built at import would cost every command's start-up
    from collections.abc import Callable, Mapping
    from pathlib import Path
    from typing import Any, Protocol

    from orchestrator.sessions.store import AuthRead, Session
    from orchestrator.tracker.binding import Binding

    class Sources(Protocol):
        """What the facts are read from: ``orchestrator.context.Context`` (declared here, so the context
        may build facts without this module importing it back)."""

        clock: Callable[[], float]

        @property
        def env(self) -> Mapping[str, str]: ...
        @property
        def cwd(self) -> Path: ...
        @property
        def config(self) -> dict[str, Any]: ...
        @property
        def sessions(self) -> AuthRead: ...

# Each fact imports the module that reads it inside its property: ``--help`` only needs the rollout
# flag, so it must not pay for TOML, auth or repository code (see benchmarks/bench_startup.py).


class LiveFacts:
    """The ``states.facts.Facts`` protocol, read lazily from one context's environment, files and clock."""

    def __init__(self, context: Sources, *, mission: str | None = None) -> None:
        self.context = context
        self.mission_option = mission

    @property
    def cwd(self) -> Path:
        return self.context.cwd

    # --- rollout ----------------------------------------------------------------------------------
    @cached_property
    def rollout_enabled(self) -> bool:
        return is_truthy(self.context.env.get(SAAS_SYNC_ENV_VAR))

    # --- config -----------------------------------------------------------------------------------
    @cached_property
    def host_url(self) -> str | None:
        """The effective host: env, else config.toml; validated the same way wherever it comes from."""
        from orchestrator.home.config import validate_source

        env_url = self.context.env.get(SAAS_URL_ENV_VAR, "").strip()
        if env_url:  # validated like the config key: it is printed in messages and gets the token
            return str(validate_source(env_url, ENV_URL_SOURCE)) or None
        from orchestrator.home.config import lookup

        configured = str(lookup(self.context.config, "sync.server_url") or "").strip()
        return str(validate_source(configured, self.host_source)) or None

    @cached_property
    def host_source(self) -> str:
        if self.context.env.get(SAAS_URL_ENV_VAR, "").strip():
            return f"env {SAAS_URL_ENV_VAR}"
        from orchestrator.home import paths

        return f"{paths.config_file()} [sync].server_url"

    @cached_property
    def daemon_policy(self) -> str:
        """``[sync].background_daemon`` through ``config set``'s own validator: ``"manual "`` is manual, and
        a value ``config set`` would refuse fails in one line naming key and file, never silently auto."""
        from orchestrator.home.config import read_valid

        return str(read_valid(self.context.config, "sync.background_daemon", "auto"))

    @cached_property
    def daemon_idle_seconds(self) -> int:
        """``[sync].daemon_idle_seconds`` through ``config set``'s validator (5 seconds or more)."""
        from orchestrator.home.config import DEFAULT_IDLE_SECONDS, read_valid

        return int(read_valid(self.context.config, "sync.daemon_idle_seconds", DEFAULT_IDLE_SECONDS))

    @cached_property
    def sync_disabled(self) -> bool:
        return is_truthy(self.context.env.get(SYNC_DISABLE_ENV_VAR))

    # --- auth: a usable session *for the effective host* ------------------------------------------
    @cached_property
    def env_token(self) -> str | None:
        """``SPEC_KITTY_SAAS_TOKEN`` (gh's ``GH_TOKEN``): for the effective host only, never written."""
        token = self.context.env.get(SAAS_TOKEN_ENV_VAR, "").strip()
        return token or None

    @cached_property
    def session(self) -> Session | None:
        """The session for the effective host's origin (the env token first), else None.

        With no host configured there is nothing to match, so any session answers (the machine then
        stops at NoHost, as the quickstart expects).
        """
        from orchestrator.sessions.store import SOURCE_ENV, Session, origin

        host = self.host_url
        if self.env_token:
            return Session(self.env_token, host or "", source=SOURCE_ENV)
        if not host:
            return next(iter(self.context.sessions.sessions.values()), None)
        found = self.context.sessions.sessions.get(origin(host))
        if found is not None:
            from orchestrator.home.config import validate_source

            validate_source(found.server_url, self.source("auth"))  # never echo the URL: it may hold a secret
        return found

    @cached_property
    def auth_variant(self) -> str:
        """Why there is no usable session: ``none`` anywhere, only for an ``other_host``, ``legacy`` (stored
        by the previous protocol), or ``expired`` past ``expires_at`` without a refresh token; ``""`` when
        there is one. Decided locally, against the context's clock."""
        session = self.session
        if session is None:
            return "other_host" if self.context.sessions.sessions else "none"
        if session.legacy:
            return "legacy"
        if session.refresh_token is None and session.expired(self.context.clock()):
            return "expired"
        return ""

    @cached_property
    def has_token(self) -> bool:
        return self.auth_variant == ""

    # --- repository and mission ---------------------------------------------------------------------
    @cached_property
    def project_root(self) -> Path | None:
        from orchestrator.missions.folders import find_project_root

        return find_project_root(self.cwd)

    @cached_property
    def repo_root(self) -> Path:
        """Where a binding is stored: the project root, else the current folder."""
        return self.project_root or self.cwd.resolve()

    @cached_property
    def mission_slug(self) -> str:
        """Never guessed: ``--mission`` resolved as a handle, the only mission, or the repository's name.

        With several missions and no ``--mission`` (only commands that cover every mission get here),
        the first bound mission in slug order, else the first mission in slug order.
        """
        from orchestrator.missions.handles import resolve_slug

        several = not self.mission_option and len(self.missions) > 1  # only then do bindings matter
        return resolve_slug(self.project_root, self.mission_option, self.cwd,
                            self.bound_missions if several else ())

    @cached_property
    def missions(self) -> list[str]:
        """Every mission's slug, in slug order."""
        from orchestrator.missions.folders import list_missions

        return [folder.name for folder in list_missions(self.project_root)]

    @cached_property
    def bound_missions(self) -> list[str]:
        """The missions (slug order) the repository's binding covers: what `sync run` covers without
        --mission (a binding is the repository's, so every mission or none)."""
        return list(self.missions) if self.binding is not None else []

    @cached_property
    def binding(self) -> Binding | None:
        """The repository's tracker binding: the ``tracker:`` block of ``.kittify/config.yaml`` with a
        SaaS-backed provider (the session's host fronts it) and a routing key, spec-kitty's own test; or a
        binding of the older ``config.toml`` layout, read once more until the next write converts it."""
        from orchestrator.tracker.binding import bound_on, read_binding

        binding = read_binding(self.repo_root)
        if binding is not None and self.host_url:  # a binding one host confirmed is not one on another
            from orchestrator.sessions.store import origin

            where = bound_on(binding.binding_ref)
            if where is not None and where != origin(self.host_url):
                return None
        return binding

    @cached_property
    def is_bound(self) -> bool:
        return self.binding is not None

    # --- where each fact comes from ---------------------------------------------------------------
    def source(self, fact: str) -> str:
        """Where the operator looks to change ``fact``: env var, config file + key, auth or binding file.

        ``fact`` is a fact named here or a prerequisite of the machine (``states.machine.PREREQUISITES``
        names ``has_host`` for ``host_url``). Reads only what that answer mentions: the host source
        reads config, the binding source finds the repository and mission. A fact without a known
        source names itself.
        """
        from orchestrator.home import paths

        if fact == "rollout_enabled":
            return f"env {SAAS_SYNC_ENV_VAR}"
        if fact == "sync_disabled":
            return f"env {SYNC_DISABLE_ENV_VAR}"
        if fact in ("has_token", "auth"):
            if self.env_token:
                return f"env {SAAS_TOKEN_ENV_VAR}"
            return str(paths.auth_file())
        if fact in ("has_host", "host_url"):
            if self.host_url:
                return f"{self.host_source} = {self.host_url}"
            from states.catalog import SOURCE_HOST_NOT_SET  # never a key the file does not hold

            return SOURCE_HOST_NOT_SET.format(path=paths.config_file())
        if fact == "daemon_policy":
            from orchestrator.home.config import effective
            from states.catalog import CONFIG_SOURCE_DEFAULT

            if effective("sync.background_daemon", self.context.config, self.context.env).source == "default":
                return CONFIG_SOURCE_DEFAULT
            return f"{paths.config_file()} [sync].background_daemon"
        if fact in ("is_bound", "binding"):
            from orchestrator.tracker.binding import config_yaml
            from states.catalog import BINDING_SOURCE

            return BINDING_SOURCE.format(path=config_yaml(self.repo_root))
        return fact  # pragma: no cover - a new prerequisite shows its fact name until it gets a source here

    # --- the one fact that needs the network ------------------------------------------------------
    def host_reachable(self) -> bool:
        """One bounded probe per facts object: asking again (the machine twice, or ``sync explain``
        after the machine) reuses the answer instead of opening another socket."""
        return self._reachable

    @property
    def unreachable_reason(self) -> str:
        """Why the probe failed: ``refused``, ``no_name`` or ``timeout`` ("" when it answered)."""
        return self._probe

    @cached_property
    def _reachable(self) -> bool:
        return bool(self.host_url) and self._probe == ""

    @cached_property
    def _probe(self) -> str:
        from orchestrator.saas.probe import TIMEOUT, probe

        return probe(self.host_url) if self.host_url else TIMEOUT
