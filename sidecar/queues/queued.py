"""The answer of a stored job: its id and queue (the 202 body of SPEC §5)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Queued:
    """A webhook stored as job `job_id` on `queue`."""

    job_id: str
    queue: str

    def body(self) -> dict[str, str]:
        """The 202 body of SPEC §5."""
        return {"status": "queued", "jobId": self.job_id, "queue": self.queue}
