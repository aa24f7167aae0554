"""A threading TCP server on 127.0.0.1 that hands each connection to an app's `serve_one`
and can cut every open connection (n8n going down)."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from typing import BinaryIO, Protocol


class App(Protocol):
    """Serves one request of a connection; True to keep the connection open."""

    def serve_one(self, rfile: BinaryIO, wfile: BinaryIO) -> bool:
        """Read and answer one request."""
        ...


class Handler(socketserver.StreamRequestHandler):
    """Serves the requests of one connection; the app decides the answers."""

    server: Server

    def setup(self) -> None:
        """Disable Nagle and register the connection."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def handle(self) -> None:
        """Serve requests until the connection closes."""
        with contextlib.suppress(OSError):
            while self.server.app.serve_one(self.rfile, self.wfile):
                pass

    def finish(self) -> None:
        """Unregister the connection."""
        self.server.untrack(self.connection)
        with contextlib.suppress(OSError):
            super().finish()


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """Threading server that can cut all its open connections."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024  # the benchmark's crowds of senders (slow-n8n)

    def __init__(self, port: int, app: App) -> None:
        """Bind 127.0.0.1:port."""
        self.app = app
        self.connections: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.closed = False
        super().__init__(("127.0.0.1", port), Handler)

    def track(self, conn: socket.socket) -> None:
        """Remember an open connection (or cut it at once if the server is closed)."""
        with self.lock:
            self.connections.add(conn)
            if self.closed:
                _shutdown(conn)

    def untrack(self, conn: socket.socket) -> None:
        """Forget a closed connection."""
        with self.lock:
            self.connections.discard(conn)

    def cut_connections(self) -> None:
        """Shut down every open connection (handler threads then exit)."""
        with self.lock:
            self.closed = True
            conns = list(self.connections)
        for conn in conns:
            _shutdown(conn)


def _shutdown(conn: socket.socket) -> None:
    """Shut a connection down in both directions, ignoring errors."""
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
