"""Dev tools: the dev SaaS, a local stand-in for the hosted spec-kitty SaaS (docs/api.md is its
contract), and the generator of ``diagrams/``. The runtime (``states``, ``orchestrator``, ``cli``)
imports nothing from here.

Kept empty on purpose: ``devsaas.testing`` is imported by the pytest plugin in every test run, so
this package must not pull in aiohttp or asyncio as a side effect.
"""
