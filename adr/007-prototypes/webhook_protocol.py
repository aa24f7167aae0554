"""What serving webhooks without ASGI would give (issue 13, fourth round): the gateway's own
per-webhook work — the ADR-001 webhook count, the mode, capture (request_head +
capture_parts, the canonical path), AsyncIngress with the loop's n8n client, the answer
metrics — driven by an httptools protocol of its own instead of uvicorn's protocol and the
ASGI app. Whole answers only; no deadlines, streaming, error answers, pipelining or
management API: not a product, a measurement beside raw_proxy.py and the gateway.

    N8N_URL=… REDIS_URL=… python webhook_protocol.py LISTEN_PORT [PROCESSES]

Run from the repository root with the project's .venv (it imports the sidecar package).
"""

import asyncio
import os
import socket
import sys

import httptools
import uvloop

from sidecar.app import create_asgi_app
from sidecar.capture import capture_parts
from sidecar.collector import settle_garbage_collector
from sidecar.gateway_metrics import answered, path_class
from sidecar.http.asgi import GatewayASGI
from sidecar.request_head import head_from_scope
from sidecar.route_path import canonical_path
from sidecar.server import use_multiprocess_metrics
from sidecar.settings import Settings


class Webhooks(asyncio.Protocol):
    """One sender connection: parse each request, answer it through the gateway's parts."""

    def __init__(self, gateway: GatewayASGI) -> None:
        self.gateway = gateway
        self.parser = httptools.HttpRequestParser(self)
        self.url, self.headers, self.body = b"", [], []

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.client = transport.get_extra_info("peername")
        self.server = transport.get_extra_info("sockname")

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        scope = {
            "method": self.parser.get_method().decode(),
            "path": httptools.parse_url(self.url).path.decode(),
            "sidecar.target": self.url,
            "headers": self.headers,
            "client": self.client,
            "server": self.server,
            "scheme": "http",
        }
        body = b"".join(self.body)
        self.url, self.headers, self.body = b"", [], []
        asyncio.get_running_loop().create_task(self.answer(scope, body))

    async def answer(self, scope: dict, body: bytes) -> None:
        gateway = self.gateway
        gateway.record_webhook()
        mode = await gateway.mode.mode()
        head = head_from_scope(scope)
        canonical_path(head.path)
        captured = capture_parts(head, body, gateway.settings.trusted_proxies)
        outcome = await gateway.ingress.handle(captured, mode, gateway.mode.circuit_open)
        data = await outcome.read()
        lines = [b"HTTP/1.1 %d OK\r\n" % outcome.status]
        for name, value in outcome.headers:
            lines += [name, b": ", value, b"\r\n"]
        lines.append(b"x-sidecar-mode: " + mode.encode() + b"\r\n\r\n")
        self.transport.write(b"".join(lines) + data)
        answered(path_class(head.path), head.method, mode, outcome.status).inc()


def serve(listen_port: int) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", listen_port))
    sock.listen(1024)
    gateway, _ = create_asgi_app(Settings())
    settle_garbage_collector()  # as each gateway process does

    async def main() -> None:
        await gateway.mode.start()
        server = await asyncio.get_running_loop().create_server(
            lambda: Webhooks(gateway), sock=sock
        )
        await server.serve_forever()

    uvloop.run(main())


if __name__ == "__main__":
    listen = int(sys.argv[1])
    processes = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    if processes > 1:
        use_multiprocess_metrics()
    for _ in range(processes):
        if os.fork() == 0:
            serve(listen)
    os.wait()
