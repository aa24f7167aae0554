"""uvicorn httptools protocol with a header read deadline (uvicorn has none of its own:
only --timeout-keep-alive for idle connections between requests).
Armed when the connection opens and when a new request begins; cancelled when the headers
are complete; on expiry: 408 + close. Use: uvicorn --http deadline_proto:DeadlineHttpToolsProtocol"""
import os
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_DEADLINE = float(os.environ.get("HEADER_DEADLINE", "10"))
CLOSED = {"n": 0}

class DeadlineHttpToolsProtocol(HttpToolsProtocol):
    _header_timer = None

    def _arm(self):
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(HEADER_DEADLINE, self._header_expired)

    def _disarm(self):
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def connection_made(self, transport):
        super().connection_made(transport)
        self._arm()

    def data_received(self, data):
        if self.cycle is None or self.cycle.response_complete:
            self._arm()  # bytes of a next request on a kept-alive connection
        super().data_received(data)

    def on_headers_complete(self):
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc):
        self._disarm()
        super().connection_lost(exc)

    def _header_expired(self):
        self._header_timer = None
        if not self.transport.is_closing():
            CLOSED["n"] += 1
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            self.transport.close()
