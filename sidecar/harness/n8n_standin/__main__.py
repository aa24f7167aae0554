"""`python -m sidecar.harness.n8n_standin PORT`: the benchmark's n8n stand-in when node is
not installed. Answers every request 200 at once, keeps score, records nothing."""

from __future__ import annotations

import sys
import threading

from sidecar.harness.n8n_standin.remote import WORKFLOW_STARTED
from sidecar.harness.n8n_standin.score import Score
from sidecar.harness.n8n_standin.server import FakeN8n


def main(port: int) -> None:
    """Serve on 127.0.0.1:`port` until killed."""
    FakeN8n(port, record=False, answer_all=WORKFLOW_STARTED, score=Score()).start()
    threading.Event().wait()


if __name__ == "__main__":
    main(int(sys.argv[1]))
