"""The hosted Spec Kitty SaaS protocol as spec-kitty-cli 3.2.7 speaks it: OAuth device flow, identity,
the events batch and the tracker endpoints over aiohttp (``client``), and the cheap reachability probe
the readiness machine asks about (``probe``, stdlib only). Only commands that go remote import ``client``.
"""
