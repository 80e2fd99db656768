"""The operator's home (``~/.spec-kitty``, or ``SPEC_KITTY_HOME``): where every file lives (``paths``),
the ``config.toml`` settings and their validators (``config``), the stealth flag (``rollout``), the
file helpers every room writes through — atomic replace, no-follow, bounded reads, locks (``fsutil``)
— and the numeric limits (``limits``). Every other room stands on this one; it imports none of them.
"""
