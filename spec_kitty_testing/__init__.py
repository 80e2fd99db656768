"""The test-suite surface of spec-kitty-sync: the pytest plugin and the stealth guard.

Shipped for suites (this project's and downstream ones) that drive ``spec-kitty``; the runtime
(``states``, ``orchestrator``, ``cli``) never imports it. ``plugin`` is loaded by pytest in every run
through the ``pytest11`` entry point, so this package imports nothing on its own.
"""
