"""One name for "a mission on a host", whoever asks: the queue, ``sync status``, the stall warning, the
tracker and the daemon.

A mission is known to a host by the host's origin, the repository's ``project_uuid`` and the mission's
slug; the same mission synced to two hosts is two missions here, and every spelling of one host (case,
a trailing slash, an explicit default port) is one. :attr:`MissionRef.key` is the string the queue file
has always stored, so queues written before this type existed still match.

A leaf: only ``orchestrator.sessions.store.origin`` is imported, and only when a ref is made from a URL.
"""

from __future__ import annotations

from typing import NamedTuple


class MissionRef(NamedTuple):
    """A mission of a project on a host. Make one with :meth:`at` (which normalises the host): the
    fields are the normalised parts, and two refs are equal exactly when the queue keys them alike."""

    origin: str  # ``https://saas.example:443``: the host as ``orchestrator.sessions.store.origin`` spells it
    project: str  # the repository's ``project_uuid``
    slug: str  # the mission's folder name under ``kitty-specs/``

    @classmethod
    def at(cls, host_url: str, project: str, slug: str) -> MissionRef:
        """The mission ``slug`` of ``project`` on the host at ``host_url``, however that URL is spelled.
        A URL with no host part (never a configured one) is kept as written, without a trailing slash."""
        from orchestrator.sessions.store import origin

        return cls(origin(host_url) or host_url.strip().rstrip("/"), project, slug)

    @property
    def key(self) -> str:
        """The queue's name for the mission: ``origin|project|slug``, byte for byte as every queue file holds."""
        return f"{self.origin}|{self.project}|{self.slug}"
