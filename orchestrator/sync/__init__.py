"""Nothing lost: lane moves wait in a durable sqlite queue per mission on a host, and leave it only once
the host acknowledged them.

- ``mission_ref`` — ``MissionRef``: a mission on a host (origin, project uuid, slug), the queue's key.
- ``store``       — the queue file: connection, schema and migration, transactions, compaction.
- ``queue``       — ``EventQueue``: the rows waiting and the ids acked, per mission.
- ``history``     — how a mission's syncs went: last outcome, last success and error, tracker cursor.
- ``rows``        — what a log row is to the queue: usable, or parked with the reason why.
- ``scan``        — the checkpointed scan of a mission log into the queue.
- ``deadletters`` — parked rows: ``sync retry`` and ``sync drop``.
- ``outbox``      — the queue as commands see it (``wp move`` enqueues; counts, a failure recorded).
- ``envelopes``   — a row as the ``WPStatusChanged`` envelope the host takes.
- ``target``      — what one sync is given and reports.
- ``upload``      — batches, drained oldest first; a refused batch halved until the refused rows are parked.
- ``run``         — one sync: events, then the tracker (``orchestrator.tracker.exchange``).
- ``status``      — what ``sync status`` and the stall warning report.

May import ``home``, ``missions``, ``project``, ``sessions`` and (inside functions) ``saas``. The tracker
room imports this one; only ``run`` (which composes the two) and ``status`` (which reports the tracker's
conflicts) import the tracker back, and nothing in the tracker imports them.
"""
