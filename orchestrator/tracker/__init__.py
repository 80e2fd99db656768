"""The tracker: a mission's binding to an external tracker in spec-kitty's ``tracker:`` block of
``.kittify/config.yaml``, remembered with the host that confirmed it (``binding``), and the tracker's
commands — bind, status, and the pull and push of a tracker sync (``service``).
"""
