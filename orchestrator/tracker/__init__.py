"""The tracker: a mission's binding to an external tracker in spec-kitty's ``tracker:`` block of
``.kittify/config.yaml``, remembered with the host that confirmed it (``binding``), and the tracker's
commands — bind, status, and the sync target of a mission (``service``).

The tracker step of a sync lives here too: the pull and push (``exchange``), the lanes the server holds
(``held``), and the tracker's tables in the queue file (``ledger``). May import ``orchestrator.sync``
(the queue, the target), never ``orchestrator.sync.run`` or ``orchestrator.sync.status``, which sit above.
"""
