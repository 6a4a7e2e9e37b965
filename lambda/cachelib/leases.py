"""Lease renewal: a loader keeps its lease alive for as long as it runs.

Without renewal a lease lapses after ``CACHE_LEASE_MS`` while a slow query is still running; a waiter
then takes a second lease and runs the same query, and stampede protection is gone for exactly the slow
loaders that need it most. With renewal, the lease lapses only when its holder is gone (the container died
or froze), so ``CACHE_LEASE_MS`` is how soon a dead holder is replaced, and waiters can afford to wait for
a live one.

One daemon thread per :class:`~cachelib.cache.Cache`, started on the first slow load and parked while no
lease is held. It renews every lease this process holds each third of ``CACHE_LEASE_MS``, through the
backend (so its calls feed the breaker like any other). A load shorter than that never sees it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from cachelib.errors import CacheUnavailable

if TYPE_CHECKING:
    from cachelib.backend import CacheBackend


logger = logging.getLogger(__name__)


class LeaseKeeper:
    def __init__(self, backend: CacheBackend, lease_ms: int) -> None:
        self._backend = backend
        self._lease_ms = lease_ms
        self._held: dict[tuple[str, str], int] = {}  # (lease key, token) -> nesting count
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.renewals = 0

    @contextmanager
    def holding(self, lease_key: str, token: str) -> Iterator[None]:
        """Renew the lease at ``lease_key`` (while it still holds ``token``) until the block ends."""
        item = (lease_key, token)
        with self._cond:
            self._held[item] = self._held.get(item, 0) + 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="cachelib-lease-keeper", daemon=True)
                self._thread.start()
            self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                left = self._held[item] - 1
                if left:
                    self._held[item] = left
                else:
                    del self._held[item]

    def _run(self) -> None:
        interval = self._lease_ms / 3000
        while True:
            with self._cond:
                while not self._held:
                    self._cond.wait()
                # Sleep first: a lease is fresh when taken, so a load shorter than the interval costs nothing.
                self._cond.wait(timeout=interval)
                due = list(self._held)
            for lease_key, token in due:
                try:
                    self._backend.renew(lease_key, token, self._lease_ms)
                    self.renewals += 1
                except CacheUnavailable:
                    break  # the fill will fail too and the load's value is still returned
                except Exception:  # the keeper must outlive any one failure (a client closed under it)
                    logger.warning("lease renewal failed", exc_info=True)
                    break
