"""Budgets for the abuse suites (tests/test_abuse_*.py): hypothesis settings from the env.

ABUSE_EXAMPLES=N   examples per abuse property instead of its default (raise it for a long run)
ABUSE_SEED=N       other cases than the default ones (each run with the same N tries the same)

Every property is seeded from its label (and ABUSE_SEED): the same cases on every run, so a
failure in CI is reproduced by running the same test again, while two properties sharing
one body (e.g. one per caller) still try different cases. Nothing is stored in .hypothesis/.
"""

from __future__ import annotations

import os
import zlib
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, seed, settings

T = TypeVar("T", bound=Callable)
ENV_EXAMPLES, ENV_SEED = "ABUSE_EXAMPLES", "ABUSE_SEED"
TALLY: Counter[str] = Counter()  # cases sent per suite, printed at the end of the run


def tally(label: str) -> None:
    """Count one case of the suite `label` (see conftest's terminal summary)."""
    TALLY[label] += 1


def examples(default: int) -> int:
    """How many examples a property tries: ABUSE_EXAMPLES when set, else `default`."""
    raw = os.environ.get(ENV_EXAMPLES, "").strip()
    return int(raw) if raw else default


def budget(label: str, default: int) -> Callable[[T], T]:
    """Decorator: hypothesis settings for the abuse property `label` of `default` examples
    (no deadline, no example database, a seed from `label` and ABUSE_SEED)."""
    configured = settings(
        max_examples=examples(default),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    extra = os.environ.get(ENV_SEED, "").strip()
    chosen = zlib.crc32(f"{label}:{extra}".encode())

    def decorate(test: T) -> T:
        return seed(chosen)(configured(test))

    return decorate
