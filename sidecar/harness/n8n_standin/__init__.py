"""One stand-in for n8n: scripted and recording for the tests (`FakeN8n`), scoring for the
benchmark (`start_upstream`: node's upstream.js when node is installed, else `FakeN8n` in
a process of its own)."""

from sidecar.harness.n8n_standin.answers import N8N_PREFIXES, not_found_body
from sidecar.harness.n8n_standin.messages import Received, Reply
from sidecar.harness.n8n_standin.remote import Upstream, start_upstream
from sidecar.harness.n8n_standin.score import Score
from sidecar.harness.n8n_standin.server import FakeN8n

__all__ = [
    "N8N_PREFIXES",
    "FakeN8n",
    "Received",
    "Reply",
    "Score",
    "Upstream",
    "not_found_body",
    "start_upstream",
]
