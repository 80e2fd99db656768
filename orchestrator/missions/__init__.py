"""A mission is a folder under ``kitty-specs/`` with spec-kitty's ``status.events.jsonl``. This room
finds missions on disk (``folders``) and names them by handle (``handles``), reads the log line by line
(``log``) and folds it exactly as spec-kitty does (``fold``), keeps a saved fold keyed by the log's
content so a million-row log is not re-read (``savedfold``, ``logproof``; ``read`` is the one entry
point), gives each row its stable id (``eventids``, ``ulid``), appends a move (``moves``) and writes
``status.json`` as spec-kitty would (``materialize``, ``statuslock``, ``autocommit``). It knows nothing
of hosts.

Imports point one way: ``log`` ← ``fold`` ← ``savedfold`` ← ``read`` ← ``handles``; ``folders`` beside
them; ``moves`` on top.
"""
