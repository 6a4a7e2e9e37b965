"""What a cached entry means to a reader: its frame decoded, its value's shape checked, and hot entries'
decodings remembered against their bytes.

A hot key's entry comes back byte for byte until it changes, so its decoding (and shape check) is
remembered against those bytes: a hit then costs a byte comparison instead of a parse. Decoding is a pure
function of the bytes, so the memo serves exactly what decoding would; it also means hits on one key return
the same value object, which callers must treat as read-only (as near-cache hits are).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cachelib import codec
from cachelib.errors import CorruptEntry

Accept = Callable[[Any], bool]
"""Says whether a decoded cached value has the shape the caller expects; False makes it a corrupt entry."""
Decoded = tuple[bytes, int, Any]
"""``(kind, soft deadline in epoch ms, value)``."""

MEMO_KEYS = 1024
"""Keys whose last decoded entry a container remembers (about 1 KiB each for a product)."""


class EntryDecoder:
    """Decodes entries for one :class:`~cachelib.cache.Cache`; ``on_corrupt(key, raw, exc)`` deletes a
    corrupt or wrongly shaped entry."""

    def __init__(self, on_corrupt: Callable[[str, bytes, Exception], None]) -> None:
        self._on_corrupt = on_corrupt
        self._memo: dict[str, tuple[bytes, Accept | None, Decoded]] = {}

    def decode(self, key: str, raw: bytes, accept: Accept | None) -> Decoded | None:
        """The decoded entry, or ``None`` after ``on_corrupt`` when it is corrupt or has the wrong shape."""
        memo = self._memo.get(key)
        if memo is not None and memo[0] == raw and memo[1] is accept:
            return memo[2]
        try:
            kind, soft_ms, value = codec.decode_entry(raw)
            if accept is not None and value is not None and not accept(value):
                raise CorruptEntry(f"cached value of type {type(value).__name__} has an unexpected shape")
        except CorruptEntry as exc:
            self._on_corrupt(key, raw, exc)
            return None
        decoded = (kind, soft_ms, value)
        if len(self._memo) >= MEMO_KEYS:
            self._memo.clear()  # a crude bound, and cheap: the hot keys are back within a few hits
        self._memo[key] = (raw, accept, decoded)
        return decoded

    def forget(self) -> None:
        """Drop every remembered decoding (benchmarks of the first hit after a change; tests)."""
        self._memo.clear()

    def __len__(self) -> int:
        return len(self._memo)
