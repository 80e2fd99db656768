"""A clock the test moves by hand: injected wherever the code under test reads time, so no test sleeps."""

from __future__ import annotations


class HandClock:
    """Callable like ``time.monotonic`` / ``time.time``; ``now`` changes only when the test says so."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now
