"""The floor of a Python HTTP passthrough on this machine: uvloop protocols, httptools on both
sides, one upstream connection per sender connection, n8n's answer relayed as the bytes it
came in. No ASGI, no routing, no metrics, no deadlines, no error handling: not a product,
only the fastest a Python process can forward a keep-alive request (issue 13's c8 target).

    python raw_proxy.py LISTEN_PORT UPSTREAM_PORT [PROCESSES]
"""

import asyncio
import os
import socket
import sys

import httptools
import uvloop


class Relay(asyncio.Protocol):
    """Sender side: parse each request, write it to the upstream, relay the answer."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.parser = httptools.HttpRequestParser(self)
        self.upstream: Answer | None = None
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        loop = asyncio.get_running_loop()
        task = loop.create_connection(lambda: Answer(self), "127.0.0.1", self.upstream_port)
        asyncio.ensure_future(task).add_done_callback(self._connected)

    def _connected(self, done: asyncio.Future) -> None:
        self.upstream = done.result()[1]
        for data in self.pending:
            self.upstream.transport.write(data)
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)  # checks framing only
        if self.upstream is None:
            self.pending.append(data)
        else:
            self.upstream.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None:
            self.upstream.transport.close()


class Answer(asyncio.Protocol):
    """Upstream side: parse the answer for its end, relay its bytes as they come."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.parser = httptools.HttpResponseParser(self)

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)
        self.relay.transport.write(data)


def serve(listen_port: int, upstream_port: int) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", listen_port))
    sock.listen(1024)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(
            lambda: Relay(upstream_port), sock=sock
        )
        await server.serve_forever()

    uvloop.run(main())


if __name__ == "__main__":
    listen, upstream = int(sys.argv[1]), int(sys.argv[2])
    for _ in range(int(sys.argv[3]) if len(sys.argv) > 3 else 2):
        if os.fork() == 0:
            serve(listen, upstream)
    os.wait()
