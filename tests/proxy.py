"""A TCP proxy for tests of dropped connections (tests/test_station.py, test_web_browser.py)."""

from __future__ import annotations

import contextlib
import socket
import threading


class Proxy:
    """A TCP proxy in front of the server: it follows the server to whatever port it restarts
    on, refuses connections while it is down, and cuts a connection in the middle of a body."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.backend: int | None = None
        self.cut_at: int | None = None  # cut the connection carrying the upstream byte past this count
        self.down_on_cut = False  # and then go down (every connection dropped, new ones refused)
        self.upstream = self.cuts = 0
        self.lock = threading.Lock()
        self.open: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(("127.0.0.1", self.backend or 1), timeout=5)
        except OSError:
            client.close()  # the server is down: refused
            return
        server.settimeout(None)
        with self.lock:
            self.open |= {client, server}
        threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()
        self._pipe(client, server, True)

    def _pipe(self, source: socket.socket, sink: socket.socket, up: bool) -> None:
        try:
            while data := source.recv(1 << 16):
                if up:
                    with self.lock:
                        self.upstream += len(data)
                        cut = self.cut_at is not None and self.upstream >= self.cut_at
                        if cut:
                            self.cut_at, self.cuts = None, self.cuts + 1
                    if cut:
                        sink.sendall(data[: len(data) // 2])  # half a chunk, then the line drops
                        if self.down_on_cut:
                            self.down()
                        return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
                with self.lock:
                    self.open.discard(s)

    def follow(self, base: str) -> None:
        self.backend = int(base.rsplit(":", 1)[1])

    def down(self) -> None:
        """The server gone: every open connection dropped, new ones refused until ``follow``."""
        self.backend = None
        with self.lock:
            for s in list(self.open):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
