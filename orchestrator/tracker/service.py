"""Tracker operations behind the hosted commands: bind, unbind, status, and the sync target of a mission.

The binding is the repository's (``orchestrator.tracker.binding``: the ``tracker:`` block of
``.kittify/config.yaml``); the host resolves and confirms it through ``/api/v1/tracker/bind-resolve/``
and ``bind-confirm/`` with the repository's identity, as spec-kitty's ``tracker bind`` does. Every
tracker call names the session's one shared (non-private) team in ``X-Team-Slug``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from orchestrator.errors import CatalogFailure, SpecKittyError, UsageProblem
from orchestrator.home import paths
from orchestrator.tracker.binding import (
    OWNERSHIP_MODES,
    SAAS_PROVIDERS,
    Binding,
    config_yaml,
    remove_binding,
    write_binding,
)

if TYPE_CHECKING:
    from orchestrator.context import ClientFactory
    from orchestrator.project.identity import ProjectIdentity
    from orchestrator.saas.client import SaasClient
    from orchestrator.sessions.store import Credentials
    from orchestrator.sync.target import SyncTarget
from orchestrator.facts import LiveFacts
from states import catalog


class Bound(NamedTuple):
    binding: Binding
    migrated: bool  # an old `.kittify/config.toml` binding was removed on the way


class TrackerRoute(NamedTuple):
    """What a tracker call of a sync needs: the binding and the team it is made in."""

    binding: Binding
    team: str


class _Choice(NamedTuple):
    provider: str
    label: str
    reason: str
    token: str | None  # a candidate to confirm, or None: the host already binds this project (``exact``)
    answer: dict[str, Any]


def _credentials(facts: LiveFacts) -> Credentials:
    """The effective host's session, bound to its origin (the client refuses to send it elsewhere)."""
    from orchestrator.sessions.store import Credentials

    session = facts.session
    assert session is not None, "the gate guarantees a session for the host before remote work"
    return Credentials(session)


@contextlib.contextmanager
def _retry_hint(command: str) -> Iterator[None]:
    """A host error during bind/unbind keeps the host's words but names this command as the retry: no
    queue is involved, so the sync's "queued events are kept" would mislead."""
    from orchestrator.saas.errors import ServerFailed

    try:
        yield
    except ServerFailed as error:
        raise CatalogFailure(error.failure._replace(
            next_action=catalog.TRACKER_RETRY_LATER.format(command=command))) from None


def identity_body(identity: ProjectIdentity) -> dict[str, Any]:
    """``project_identity`` as spec-kitty's ``_bind_saas`` sends it (its keys, in its order)."""
    return {"uuid": identity.uuid, "slug": identity.slug, "node_id": identity.node_id,
            "repo_slug": identity.repo_slug, "build_id": identity.build_id}


async def team_of(client: SaasClient, facts_session: Any, url: str) -> str:
    """The one shared team of the session; asked of ``/api/v1/me`` when the stored session does not name
    exactly one (no teams stored, or stale ones: spec-kitty rehydrates its membership the same way)."""
    from orchestrator.sessions.store import Session

    shared = facts_session.shared_teams if facts_session is not None else []
    if len(shared) != 1:
        shared = Session("-", url).with_identity(await client.me()).shared_teams
    if len(shared) != 1:
        raise SpecKittyError(catalog.TRACKER_NO_SHARED_TEAM.format(url=url, count=len(shared)))
    return str(shared[0])


def _check_options(provider: str | None, bind_ref: str | None, select: int | None, mode: str | None) -> None:
    if provider is not None and provider not in SAAS_PROVIDERS:
        raise UsageProblem(catalog.TRACKER_UNKNOWN_PROVIDER.format(provider=provider,
                                                                   choices=", ".join(SAAS_PROVIDERS)))
    if mode is not None and mode not in OWNERSHIP_MODES:
        raise UsageProblem(catalog.TRACKER_BAD_OWNERSHIP.format(mode=mode, choices=", ".join(OWNERSHIP_MODES)))
    if select is not None and bind_ref is not None:
        raise UsageProblem(catalog.TRACKER_SELECT_AND_REF)


async def _choices(client: SaasClient, team: str, providers: tuple[str, ...], identity: dict[str, Any],
                   named: bool) -> list[_Choice]:
    """Every bindable resource the host offers this project, provider by provider (a provider the host
    does not front answers an error, which only counts when the operator named that provider)."""
    from orchestrator.saas.errors import RequestFailed

    found: list[_Choice] = []
    for provider in providers:
        try:
            answer = await client.bind_resolve(team, provider, identity)
        except RequestFailed as refused:
            if named or refused.status in (401, 403):
                raise
            continue
        if answer.get("match_type") == "exact" and answer.get("binding_ref"):
            found.append(_Choice(provider, str(answer.get("display_label") or answer["binding_ref"]),
                                 "bound already", None, answer))
            continue
        candidates = [c for c in answer.get("candidates") or [] if isinstance(c, dict)]
        if answer.get("match_type") == "exact" and answer.get("candidate_token"):
            candidates = [{**answer, "sort_position": 0}]
        candidates.sort(key=lambda c: int(c["sort_position"]) if isinstance(c.get("sort_position"), int) else 0)
        for candidate in candidates:
            if isinstance(candidate.get("candidate_token"), str):
                found.append(_Choice(provider, str(candidate.get("display_label") or "?"),
                                     str(candidate.get("match_reason") or candidate.get("confidence") or "candidate"),
                                     candidate["candidate_token"], candidate))
    return found


def bind(facts: LiveFacts, provider: str | None, bind_ref: str | None, select: int | None,
         mode: str | None, *, clients: ClientFactory) -> Bound:
    """Resolve, pick (one candidate, or ``--select N``; several without it: exit 2 listing them), confirm
    on the host (through ``clients``, the context's client factory), then write the ``tracker:`` block."""
    from orchestrator.project.identity import ensure_identity
    from states.contract import printable

    _check_options(provider, bind_ref, select, mode)
    url = facts.host_url or ""
    identity = identity_body(ensure_identity(facts.repo_root))
    providers = (provider,) if provider else SAAS_PROVIDERS

    async def resolve(client: SaasClient) -> Bound:
        team = await team_of(client, facts.session, url)
        if bind_ref is not None:
            return await _validated(client, facts, team, providers, bind_ref, identity, mode, provider is not None)
        choices = await _choices(client, team, providers, identity, provider is not None)
        if not choices:
            which = catalog.TRACKER_NOTHING_FOR_PROVIDER.format(provider=provider) if provider else ""
            raise SpecKittyError(catalog.TRACKER_NOTHING_TO_BIND.format(url=url, which=which))
        if select is not None:
            if not 1 <= select <= len(choices):
                raise UsageProblem(catalog.TRACKER_SELECT_OUT_OF_RANGE.format(number=select, count=len(choices),
                                                                               url=url))
            chosen = choices[select - 1]
        elif len(choices) == 1:
            chosen = choices[0]
        else:
            rows = [catalog.TRACKER_CANDIDATE_ROW.format(number=n, provider=c.provider, label=printable(c.label),
                                                         reason=printable(c.reason))
                    for n, c in enumerate(choices, 1)]
            raise CatalogFailure(catalog.Failure("\n".join([catalog.TRACKER_CANDIDATES_HEADING.format(url=url), *rows]),
                                                 catalog.TRACKER_CANDIDATES_PICK, catalog.ExitCode.USAGE, gap=True),
                                 "several_candidates")
        if chosen.token is None:  # the host binds this project already: record what it says, as spec-kitty does
            answer = chosen.answer
            return Bound(*write_binding(facts.repo_root, chosen.provider, str(answer["binding_ref"]),
                                        _text(answer.get("project_slug")), _text(answer.get("display_label")),
                                        None, mode, host=url))
        confirmed = await client.bind_confirm(team, chosen.provider, chosen.token, identity)
        return _record(facts, chosen.provider, confirmed, mode, url)

    with _retry_hint("tracker bind"):
        return clients(url, _credentials(facts), resolve)


async def _validated(client: SaasClient, facts: LiveFacts, team: str, providers: tuple[str, ...], ref: str,
                     identity: dict[str, Any], mode: str | None, named: bool) -> Bound:
    """``--bind-ref``: ``bind-validate/`` with each provider in turn until one knows the ref."""
    from orchestrator.saas.errors import RequestFailed
    from states.contract import printable

    url = facts.host_url or ""
    reason = "unknown binding_ref"
    for provider in providers:
        try:
            answer = await client.bind_validate(team, provider, ref, identity)
        except RequestFailed:
            if named:
                raise
            continue
        if answer.get("valid") is True:
            return _record(facts, provider, {**answer, "binding_ref": answer.get("binding_ref") or ref}, mode, url)
        reason = str(answer.get("reason") or reason)
    raise SpecKittyError(catalog.TRACKER_BIND_REF_INVALID.format(url=url, ref=printable(ref), reason=printable(reason)))


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _record(facts: LiveFacts, provider: str, answer: dict[str, Any], mode: str | None, url: str) -> Bound:
    """Write what the host confirmed (``bind-confirm/`` or ``bind-validate/``) into the ``tracker:`` block."""
    ref = _text(answer.get("binding_ref"))
    if ref is None:
        from orchestrator.saas.errors import RequestFailed

        raise RequestFailed(catalog.SAAS_UNEXPECTED_ANSWER.format(url=url, what="bind-confirm (no binding_ref)"))
    context = answer.get("provider_context")
    context = {str(k): str(v) for k, v in context.items()} if isinstance(context, dict) else None
    return Bound(*write_binding(facts.repo_root, provider, ref, _text(answer.get("project_slug")),
                                _text(answer.get("display_label")), context, mode, host=url))


def unbind(facts: LiveFacts) -> Bound:
    """Remove the ``tracker:`` block (and an old ``config.toml`` binding). The protocol has no call to end
    a binding on the host: spec-kitty's ``unbind`` is local too (the dashboard unlinks)."""
    removed, migrated = remove_binding(facts.repo_root)
    binding = removed or facts.binding
    assert binding is not None, "the gate guarantees a binding"
    return Bound(binding, migrated)


def remote_status(facts: LiveFacts, *, clients: ClientFactory) -> dict[str, Any]:
    """``GET status/`` for the repository's binding (through ``clients``, the context's client factory)."""
    binding = facts.binding
    assert binding is not None
    assert not binding.legacy
    url = facts.host_url or ""

    async def ask(client: SaasClient) -> dict[str, Any]:
        team = await team_of(client, facts.session, url)
        return await client.tracker_status(team, binding.provider, binding.routing())

    return clients(url, _credentials(facts), ask)


async def convert_legacy(client: SaasClient, repo_root: Any, team: str, url: str) -> Binding:
    """An old ``config.toml`` binding made into a ``tracker:`` block, as a bare ``tracker bind`` would
    bind (the host's own binding of the project, or its one candidate); the old tables go. With several
    candidates nothing is guessed: one line says to run ``tracker bind``."""
    from orchestrator.project.identity import ensure_identity

    identity = identity_body(ensure_identity(repo_root))
    choices = await _choices(client, team, SAAS_PROVIDERS, identity, False)
    if len(choices) != 1:
        raise CatalogFailure(catalog.UNBOUND.filled(slug=repo_root.name))
    chosen = choices[0]
    answer = chosen.answer if chosen.token is None else await client.bind_confirm(
        team, chosen.provider, chosen.token, identity)
    ref = _text(answer.get("binding_ref"))
    if ref is None:
        from orchestrator.saas.errors import RequestFailed

        raise RequestFailed(catalog.SAAS_UNEXPECTED_ANSWER.format(url=url, what="bind-confirm (no binding_ref)"))
    context = answer.get("provider_context")
    written, _ = write_binding(repo_root, chosen.provider, ref, _text(answer.get("project_slug")),
                               _text(answer.get("display_label")),
                               {str(k): str(v) for k, v in context.items()} if isinstance(context, dict) else None,
                               None, host=url)
    return written


def sync_target(facts: LiveFacts) -> SyncTarget:
    """What a sync of the facts' mission needs: host, session, the repository's identity (its
    ``project:`` block, written as spec-kitty would when absent), the envelopes' context and, when the
    repository is bound, its binding (the tracker step runs only then)."""
    from orchestrator.project.identity import ensure_identity, git_state
    from orchestrator.sync.envelopes import EnvelopeContext
    from orchestrator.sync.target import SyncTarget

    slug = facts.mission_slug
    identity = ensure_identity(facts.repo_root)
    branch, head = git_state(facts.repo_root)
    credentials = _credentials(facts)
    folder = (facts.project_root / paths.SPECS_DIR / slug) if facts.project_root else None
    binding = facts.binding
    session = facts.session
    return SyncTarget(
        server_url=facts.host_url or "",
        token=credentials,
        project=identity.uuid,
        mission=slug,
        repo_root=facts.repo_root,
        mission_dir=folder if folder is not None and folder.is_dir() else None,
        context=EnvelopeContext(identity.uuid, identity.slug, identity.node_id, identity.build_id,
                                credentials.session.private_team or "", branch, head, identity.repo_slug),
        tracker=binding,
        tracker_team=(session.shared_teams[0] if session is not None and len(session.shared_teams) == 1 else None),
    )


def lanes_line(facts: LiveFacts, warn: Callable[[str], None]) -> str:
    """The mission's lanes, from the same fold ``status`` and the sync use; bad lines go to ``warn``."""
    from orchestrator.missions.fold import lane_counts
    from orchestrator.missions.log import problem_line
    from orchestrator.missions.read import read_mission

    folder = (facts.project_root / paths.SPECS_DIR / facts.mission_slug) if facts.project_root else None
    if folder is None or not folder.is_dir():
        return catalog.TRACKER_NO_LANES
    read = read_mission(folder)
    for problem in read.problems:
        warn(problem_line(problem))
    counts = lane_counts(read.snapshot)
    if not counts:
        return catalog.TRACKER_NO_LANES
    return catalog.TRACKER_LANES.format(counts=counts, events=read.snapshot["event_count"])


def binding_path(facts: LiveFacts) -> str:
    return str(config_yaml(facts.repo_root))
