"""`python -m sidecar.harness.n8n_standin PORT`: the benchmark's n8n stand-in when node is
not installed. Answers every request 200 at once — /webhook/slow after 1 s, as upstream.js
does — keeps score, records nothing."""

from __future__ import annotations

import sys
import threading
from dataclasses import replace

from sidecar.harness.n8n_standin.remote import WORKFLOW_STARTED
from sidecar.harness.n8n_standin.score import Score
from sidecar.harness.n8n_standin.server import FakeN8n

SLOW_PATH = "/webhook/slow"  # the slow-n8n scenario's webhook: answered after 1 s


def main(port: int) -> None:
    """Serve on 127.0.0.1:`port` until killed."""
    server = FakeN8n(port, record=False, answer_all=WORKFLOW_STARTED, score=Score())
    server.script(SLOW_PATH, [replace(WORKFLOW_STARTED, delay=1.0)])
    server.start()
    threading.Event().wait()


if __name__ == "__main__":
    main(int(sys.argv[1]))
