"""A mission is a folder under ``kitty-specs/`` with spec-kitty's ``status.events.jsonl``. This room
finds missions by handle, reads and folds the log exactly as spec-kitty does (``log``), keeps a saved
fold keyed by the log's content so a million-row log is not re-read (``foldcache``, ``logproof``),
gives each row its stable id (``eventids``, ``ulid``), writes ``status.json`` as spec-kitty would
(``materialize``, ``statuslock``, ``autocommit``) and appends a move. It knows nothing of hosts.
"""
