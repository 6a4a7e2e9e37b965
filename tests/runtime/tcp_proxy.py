"""A small TCP forwarder between a client and a throwaway server, for fault tests.

It plays the parts of the network that the real servers cannot: ElastiCache's primary endpoint moving
to another node on failover (``retarget`` -- new connections go to the new node and every existing one is
dropped, as ElastiCache drops its clients), a connection cut under a client (``drop_connections``, e.g. a
pub/sub subscriber) and a silent network hang (``pause``/``resume``: nothing is forwarded, nothing is
closed).

One selector thread serves the listener and every forwarded connection (no thread per connection, so
nothing is left behind after ``stop()``, and it sleeps in ``select`` when there is nothing to do). The
control calls run on that thread and return once done: when ``retarget()`` or ``drop_connections()``
returns, the old connections are closed. Stdlib only.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_CHUNK = 65536
# A side is not read while this much of its data still waits for the other side (backpressure).
_MAX_PENDING = 1 << 20
_CONTROL_TIMEOUT = 10.0


class ProxyError(RuntimeError):
    """The proxy is not running, or its thread died."""


@dataclass(eq=False)
class _Link:
    """One accepted client connection and its connection to the target."""

    client: socket.socket
    upstream: socket.socket
    connecting: bool = True
    to_upstream: bytearray = field(default_factory=bytearray)
    to_client: bytearray = field(default_factory=bytearray)
    client_events: int = 0
    upstream_events: int = 0
    closed: bool = False


def _resolve(host: str, port: int) -> tuple[socket.AddressFamily, Any]:
    family, _, _, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    return family, sockaddr


class TcpProxy:
    """Forwards each connection accepted on ``host:port`` to ``target``.

    ``port=0`` (the default) takes a free port at ``start()``; ``port`` then holds it, and a later
    ``start()`` after ``stop()`` listens on the same port again, so clients can keep their address.
    """

    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.target = target
        self._target_addr = _resolve(*target)
        self._paused = False
        self._links: set[_Link] = set()
        self._commands: list[tuple[Callable[[], Any], threading.Event, list[Any]]] = []
        self._commands_lock = threading.Lock()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._selector: selectors.BaseSelector | None = None
        self._listener: socket.socket | None = None
        self._listener_events = 0
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self.error: BaseException | None = None  # what killed the thread, if anything did

    # --- public API (any thread) ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def start(self) -> TcpProxy:
        if self.running:
            return self
        listener = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            listener.listen(128)
            listener.setblocking(False)
        except BaseException:
            listener.close()
            raise
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._listener_events = 0
        self._stopping = False
        self.error = None
        self._update_listener()
        self._thread = threading.Thread(target=self._run, name=f"TcpProxy:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listener and every forwarded connection, and join the thread."""
        thread = self._thread
        if thread is None:
            return
        if thread.is_alive():
            with contextlib.suppress(ProxyError):
                self._call(self._request_stop)
            thread.join(timeout=_CONTROL_TIMEOUT)
            if thread.is_alive():
                raise ProxyError(f"proxy thread on port {self.port} did not stop")
        else:
            self._cleanup()
        self._thread = None

    def retarget(self, host: str, port: int) -> None:
        """New connections go to ``host:port``; every current one is closed (a failover)."""
        addr = _resolve(host, port)

        def apply() -> None:
            self.target = (host, port)
            self._target_addr = addr
            self._close_all()

        self._call(apply)

    def drop_connections(self) -> None:
        """Close every current forwarded connection (both ends); the target stays the same."""
        self._call(self._close_all)

    def pause(self) -> None:
        """A silent hang: stop forwarding bytes and accepting, close nothing (clients see timeouts)."""
        self._call(lambda: self._set_paused(True))

    def resume(self) -> None:
        self._call(lambda: self._set_paused(False))

    @property
    def paused(self) -> bool:
        return self._paused

    def connection_count(self) -> int:
        """Forwarded connections open right now (as the proxy's thread sees them)."""
        return self._call(lambda: len(self._links))

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- control plumbing ----------------------------------------------------------------------------

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the proxy thread (or here, if there is none) and return its result."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            if self.error is not None:
                raise ProxyError(f"proxy thread died: {self.error!r}") from self.error
            return fn()  # not started (or stopped): no thread touches the state
        done = threading.Event()
        result: list[Any] = []
        with self._commands_lock:
            self._commands.append((fn, done, result))
        assert self._wake_w is not None
        with contextlib.suppress(BlockingIOError):  # a full wake pipe already means "wake up"
            self._wake_w.send(b"\0")
        while not done.wait(0.1):
            if not thread.is_alive():
                raise ProxyError(f"proxy thread died: {self.error!r}")
        if result and isinstance(result[0], BaseException):
            raise result[0]
        return result[0] if result else None

    def _run_commands(self) -> None:
        assert self._wake_r is not None
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while self._wake_r.recv(4096):
                pass
        with self._commands_lock:
            commands, self._commands = self._commands, []
        for fn, done, result in commands:
            try:
                result.append(fn())
            except Exception as exc:  # handed to the caller
                result.append(exc)
            done.set()

    def _request_stop(self) -> None:
        self._stopping = True

    # --- the selector loop (proxy thread only) -------------------------------------------------------

    def _run(self) -> None:
        assert self._selector is not None
        try:
            while not self._stopping:
                for key, mask in self._selector.select():
                    if key.data == "wake":
                        self._run_commands()
                    elif key.data == "listen":
                        self._accept()
                    else:
                        link, side = key.data
                        if not link.closed:
                            self._on_event(link, side, mask)
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self._cleanup()
            # Release anyone who queued a command after the stop request.
            with self._commands_lock:
                leftovers, self._commands = self._commands, []
            for _, done, result in leftovers:
                result.append(ProxyError("proxy stopped"))
                done.set()

    def _cleanup(self) -> None:
        self._close_all()
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        if self._selector is not None:
            self._selector.close()
        self._listener = self._wake_r = self._wake_w = None
        self._selector = None

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. out of file descriptors: try again on the next event
                return
            client.setblocking(False)
            family, sockaddr = self._target_addr
            upstream = socket.socket(family, socket.SOCK_STREAM)
            upstream.setblocking(False)
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(client, upstream)
            self._links.add(link)
            err = upstream.connect_ex(sockaddr)
            if err == 0:
                link.connecting = False
            elif err not in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY):
                self._close(link)  # refused at once: the client sees its connection closed
                continue
            self._update(link)

    def _on_event(self, link: _Link, side: str, mask: int) -> None:
        try:
            if side == "upstream" and link.connecting:
                if link.upstream.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    self._close(link)  # the target refused: close the client side too
                    return
                link.connecting = False
            else:
                if mask & selectors.EVENT_WRITE:
                    self._flush(link, side)
                if mask & selectors.EVENT_READ and not self._read(link, side):
                    return
            self._update(link)
        except OSError:
            self._close(link)

    def _read(self, link: _Link, side: str) -> bool:
        """Read one chunk from ``side`` and pass it on; False when the link was closed."""
        src = link.client if side == "client" else link.upstream
        other = "upstream" if side == "client" else "client"
        pending = link.to_upstream if side == "client" else link.to_client
        try:
            data = src.recv(_CHUNK)
        except (BlockingIOError, InterruptedError):
            return True
        if not data:
            # One end closed: pass on what is still buffered (best effort), then close both ends, as the
            # other end would see if there were no proxy.
            with contextlib.suppress(OSError):
                self._flush(link, other)
            self._close(link)
            return False
        pending += data
        self._flush(link, other)
        return True

    def _flush(self, link: _Link, side: str) -> None:
        """Send what is waiting for ``side``."""
        sock, pending = (
            (link.client, link.to_client) if side == "client" else (link.upstream, link.to_upstream)
        )
        if not pending:
            return
        try:
            sent = sock.send(pending)
        except (BlockingIOError, InterruptedError):
            return
        del pending[:sent]

    def _update(self, link: _Link) -> None:
        """Register what each end of ``link`` waits for now."""
        if link.closed:
            return
        client = upstream = 0
        if link.connecting:
            upstream = selectors.EVENT_WRITE
        elif not self._paused:
            if len(link.to_upstream) < _MAX_PENDING:
                client |= selectors.EVENT_READ
            if len(link.to_client) < _MAX_PENDING:
                upstream |= selectors.EVENT_READ
            if link.to_client:
                client |= selectors.EVENT_WRITE
            if link.to_upstream:
                upstream |= selectors.EVENT_WRITE
        link.client_events = self._register(link.client, link.client_events, client, (link, "client"))
        link.upstream_events = self._register(
            link.upstream, link.upstream_events, upstream, (link, "upstream")
        )

    def _update_listener(self) -> None:
        if self._listener is not None:
            wanted = 0 if self._paused else selectors.EVENT_READ
            self._listener_events = self._register(self._listener, self._listener_events, wanted, "listen")

    def _register(self, sock: socket.socket, current: int, wanted: int, data: object) -> int:
        assert self._selector is not None
        if wanted == current:
            return current
        if current == 0:
            self._selector.register(sock, wanted, data)
        elif wanted == 0:
            self._selector.unregister(sock)
        else:
            self._selector.modify(sock, wanted, data)
        return wanted

    def _set_paused(self, paused: bool) -> None:
        self._paused = paused
        self._update_listener()
        for link in list(self._links):  # on resume, bytes held during the pause are still in the sockets
            self._update(link)

    def _close(self, link: _Link) -> None:
        if link.closed:
            return
        link.closed = True
        for sock, events in ((link.client, link.client_events), (link.upstream, link.upstream_events)):
            if events and self._selector is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(sock)
            with contextlib.suppress(OSError):
                sock.close()
        link.client_events = link.upstream_events = 0
        self._links.discard(link)

    def _close_all(self) -> None:
        for link in list(self._links):
            self._close(link)


__all__ = ["ProxyError", "TcpProxy"]
