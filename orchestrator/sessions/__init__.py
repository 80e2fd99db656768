"""A session is what a login against one host leaves: access and refresh tokens with their expiries,
the account and its teams. This room stores sessions per origin in 0600 files (``auth``) and runs the
device-flow login, the refresh and the logout (``login``). A token is only ever read for the origin
that issued it.
"""
