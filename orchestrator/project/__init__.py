"""The project's identity as spec-kitty keeps it: the ``project:`` block of ``.kittify/config.yaml``
(read and written through a ruamel round trip that keeps comments), the git facts an envelope carries,
and spec-kitty's lamport clock in ``~/.spec-kitty/clock.json``, reserved a batch at a time.
"""
