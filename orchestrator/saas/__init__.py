"""The hosted Spec Kitty SaaS protocol as spec-kitty-cli 3.2.7 speaks it, over aiohttp: ``client``
(``SaasClient``: OAuth device flow, identity, and ``run_with_client``), built from ``transport``
(session, deadlines, retries, refresh-on-401), ``events`` (the events batch) and ``tracker`` (the
tracker endpoints); ``errors`` (what a refusal becomes, stdlib only) and ``probe`` (the cheap
reachability probe the readiness machine asks about, stdlib only). Only commands that go remote
import ``client``.
"""
