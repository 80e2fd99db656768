"""A session is what a login against one host leaves: access and refresh tokens with their expiries,
the account and its teams. This room holds store, login, refresh, revoke:

- ``store``   — sessions per origin in a 0600 ``auth.json``, its locks, ``Credentials`` (a token only ever
  goes to the origin that issued it);
- ``login``   — the device flow and a piped-in token, and asking a host whether it still accepts a session;
- ``refresh`` — when a session is renewed, by which process, and what is stored afterwards;
- ``revoke``  — logging out: revoke on the host, forget the local copy.

The HTTP calls themselves are the SaaS client's (``orchestrator.saas``); ``store`` imports neither.
"""
