"""An exact set of event ids in ~16-32 bytes per id, so de-duplicating a 1M-row log fits in tens of MiB.

spec-kitty's reducer keeps the first occurrence of each ``event_id``; a Python ``set`` of 1M id strings
costs ~110 MB. spec-kitty's ids are ULIDs: 26 Crockford base32 characters, exactly 128 bits. A canonical
ULID (upper case, first character ``0``-``7``) is therefore stored *losslessly* as two 64-bit words in an
open-addressing table (an ``array('Q')``, linear probing, load at most 0.75): exact, never a hash
fingerprint, so two distinct ids can never be mistaken for one. The table has any number of slots (a
slot is picked by multiplying the hash into the range, not by masking bits), so it is sized to the ids
it must hold at load 0.75 rather than rounded up to a power of two (at 1M ids: 21 MiB, not 32).
Anything else (lower case, other formats) goes to an ordinary ``set`` of strings, so the set stays
exact for every string.

The table can be written to a file as is and later mapped read-only (``mmap``) as the *base* of a set
that takes new ids in a small ``delta``: membership of a handful of appended rows costs a few page
reads, not a load of the whole table.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import mmap

# Crockford base32 -> Python's base-32 digits; every other byte -> "!", which int() refuses (so no
# whitespace, sign or underscore int() would otherwise skip, no lower case folded into upper, no
# non-ASCII digit). A bytes table: ``bytes.translate`` is ~7x faster than ``str.translate``.
_TO_BASE32 = (b"!" * 48 + b"0123456789" + b"!" * 7 + b"abcdefgh!ij!kl!mnopq!rstuv" + b"!" * 165)
_M64 = (1 << 64) - 1
_MIX = 0x9E3779B97F4A7C15  # Fibonacci hashing: monotonic ULIDs (+1 per id) must not cluster the probes
MAX_LOAD = 0.75  # linear probing: ~2.5 probes per new id on average as the table fills to this
MIN_CAPACITY = 1 << 10


def words(event_id: str) -> tuple[int, int] | None:
    """The two 64-bit words of a canonical ULID (low word never 0), else None (kept as a string).

    Canonical: 26 ASCII characters of the upper-case Crockford alphabet, value below 2**128. Distinct
    canonical strings give distinct values, so the table is exact."""
    raw = event_id.encode()
    if len(raw) != 26:
        return None
    try:
        value = int(raw.translate(_TO_BASE32), 32)
    except ValueError:
        return None
    low = value & _M64
    return (low, value >> 64) if low and not value >> 128 else None  # low 0 marks an empty slot


def capacity_for(count: int) -> int:
    """The slots that hold ``count`` ids under ``MAX_LOAD`` (at least ``MIN_CAPACITY``)."""
    return max(MIN_CAPACITY, -(-count * 4 // 3) + 1)


def _slot(low: int, slots: int) -> int:
    return (((low * _MIX) & _M64) * slots) >> 64


def _contains(table: Any, slots: int, low: int, high: int) -> bool:
    i = _slot(low, slots)
    while True:
        found = table[2 * i]
        if found == 0:
            return False
        if found == low and table[2 * i + 1] == high:
            return True
        i += 1
        if i == slots:
            i = 0


class EventIds:
    """``add(event_id)`` answers "first time?" exactly; ``len()`` is the number of distinct ids."""

    def __init__(self, expected: int = 0) -> None:
        self.slots = capacity_for(expected)
        self.table = array("Q", bytes(16 * self.slots))
        self.used = 0  # ids in ``table``
        self.strings: set[str] = set()  # ids that are not canonical ULIDs
        # a read-only base (a mapped table file) and the ids added since, as strings
        self.base: Any = None
        self.base_slots = 0
        self.base_used = 0
        self.delta: set[str] = set()
        self.base_name = ""  # the table file the base was mapped from
        self._map: mmap.mmap | None = None

    def __len__(self) -> int:
        return self.used + len(self.strings) + self.base_used + len(self.delta)

    def __contains__(self, event_id: object) -> bool:
        if not isinstance(event_id, str):
            return False
        if event_id in self.strings or event_id in self.delta:
            return True
        pair = words(event_id)
        if pair is None:
            return False
        if self.base is not None and _contains(self.base, self.base_slots, *pair):
            return True
        return self.used > 0 and _contains(self.table, self.slots, *pair)

    def add(self, event_id: str) -> bool:
        """True when ``event_id`` was not in the set (and is now)."""
        if self.base is not None:
            return self._add_over_base(event_id)
        # words(), inlined: this runs once per row of every log read
        value = 0
        raw = event_id.encode()
        if len(raw) == 26:
            try:
                value = int(raw.translate(_TO_BASE32), 32)
            except ValueError:
                value = 0
        low = value & _M64
        if not low or value >> 128:
            if event_id in self.strings:
                return False
            self.strings.add(event_id)
            return True
        high = value >> 64
        table = self.table
        slots = self.slots
        i = (((low * _MIX) & _M64) * slots) >> 64
        while True:
            found = table[2 * i]
            if found == 0:
                table[2 * i] = low
                table[2 * i + 1] = high
                self.used += 1
                if self.used > MAX_LOAD * slots:
                    self._grow()
                return True
            if found == low and table[2 * i + 1] == high:
                return False
            i += 1
            if i == slots:
                i = 0

    def _add_over_base(self, event_id: str) -> bool:
        if event_id in self.delta or event_id in self.strings:
            return False
        pair = words(event_id)
        if pair is not None and _contains(self.base, self.base_slots, *pair):
            return False
        self.delta.add(event_id)
        return True

    def _grow(self) -> None:
        old, old_slots = self.table, self.slots
        self.slots = 2 * old_slots
        self.table = array("Q", bytes(16 * self.slots))
        self.used = 0
        for i in range(0, 2 * old_slots, 2):
            if old[i]:
                self._insert(old[i], old[i + 1])

    def _insert(self, low: int, high: int) -> None:
        table, slots = self.table, self.slots
        i = _slot(low, slots)
        while table[2 * i]:
            i += 1
            if i == slots:
                i = 0
        table[2 * i] = low
        table[2 * i + 1] = high
        self.used += 1

    # --- persistence (the table file holds the raw table; its header lives in the caller's state) ---

    def table_bytes(self) -> memoryview:
        """The in-memory table as written to a file (``merge_base`` first when the set has a base); a
        view, not a copy: at 1M ids the table is 32 MiB and a copy would double the peak."""
        return memoryview(self.table).cast("B")

    def merge_base(self) -> None:
        """Turn a mapped base plus delta into one in-memory table (before writing a new table file)."""
        if self.base is None:
            return
        assert self._map is not None
        base_bytes = self._map[:]
        delta = self.delta
        self.close()
        self.slots = self.base_slots
        self.table = array("Q")
        self.table.frombytes(base_bytes)
        self.used = self.base_used
        self.base, self.base_used, self.delta = None, 0, set()
        while self.used + len(delta) > MAX_LOAD * self.slots:
            self._grow()
        for event_id in delta:
            self.add(event_id)

    @classmethod
    def over_file(cls, fd: int, slots: int, used: int, strings: list[str], delta: list[str]) -> EventIds:
        """A set whose base is the table file open on ``fd`` (mapped read-only; the caller closes ``fd``)."""
        import mmap  # only a cached (big) log pays for it

        ids = cls(0)
        ids.table = array("Q")
        ids._map = mmap.mmap(fd, 16 * slots, prot=mmap.PROT_READ)
        ids.base = memoryview(ids._map).cast("Q")
        ids.base_slots, ids.base_used = slots, used
        ids.strings = set(strings)
        ids.delta = set(delta)
        return ids

    def close(self) -> None:
        if isinstance(self.base, memoryview):
            self.base.release()
        if self._map is not None:
            self._map.close()
        self._map = None
