"""The compose profiles make the mode signals watch n8n itself (issue 17): n8n has a memory
limit and its /metrics on, the sidecar reads memory from n8n against that same limit, and an
n8n API key reaches the sidecar when one is set.

Like tests/test_compose.py (whose parsing helpers are reused), each check returns a list of
problems; the real files have none and a deliberately broken copy makes each check speak.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from test_compose import (
    PLAUSIBLE,
    Deployment,
    environment,
    is_sidecar,
    is_worker,
    parse_env_example,
    real,  # noqa: F401  (fixture)
    referenced,
    scenarios,
    settings_from,
    substitute,
)

from sidecar.mode.sources import signal_sources

UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3}
UNITS["gb"] = 1024**3


def compose_bytes(value: object) -> int | None:
    """A Compose byte value ('2147483648', '512m', '2g', 2147483648) in bytes; None if unset."""
    if value is None or value == "":
        return None
    m = re.fullmatch(r"(\d+)\s*([a-z]*)", str(value).strip().lower())
    if not m or m[2] not in UNITS:
        raise ValueError(f"not a byte value: {value!r}")
    return int(m[1]) * UNITS[m[2]]


def rendered_all(d: Deployment) -> dict[str, dict[str, dict]]:
    """Every scenario's environment applied to every profile."""
    return {
        scenario: {profile: substitute(doc, env) for profile, doc in d.compose.items()}
        for scenario, env in scenarios(d).items()
    }


def gateways(doc: dict) -> dict[str, dict]:
    """The sidecar services that run the mode monitor (not the workers)."""
    return {n: s for n, s in doc["services"].items() if is_sidecar(s) and not is_worker(s)}


def check_n8n_memory_limit(d: Deployment) -> list[str]:
    """n8n has a memory limit, and every sidecar measures n8n's memory against that limit."""
    problems = []
    for scenario, docs in rendered_all(d).items():
        for profile, doc in docs.items():
            n8n = doc["services"]["n8n"]
            limit = compose_bytes(n8n.get("mem_limit"))
            if limit is None:
                problems.append(f"{scenario}/{profile}: n8n has no mem_limit")
            for name, service in doc["services"].items():
                if not is_sidecar(service):
                    continue
                s = settings_from(environment(service))
                if s.memory_source != "n8n":
                    problems.append(f"{scenario}/{profile}/{name}: memory source {s.memory_source}")
                if s.n8n_memory_limit_bytes != limit:
                    problems.append(
                        f"{scenario}/{profile}/{name}: memory limit {s.n8n_memory_limit_bytes}"
                        f" but n8n's is {limit}"
                    )
    return problems


def check_one_memory_variable(d: Deployment) -> list[str]:
    """One variable sets both limits; its default is the one .env.example documents."""
    problems = []
    given, _ = parse_env_example(d.env_example)
    for profile, doc in d.compose.items():
        n8n_vars = referenced(doc["services"]["n8n"].get("mem_limit", ""))
        if list(n8n_vars) != ["N8N_MEMORY_LIMIT_BYTES"]:
            problems.append(f"{profile}: n8n's mem_limit follows {sorted(n8n_vars)}")
        for name, service in gateways(doc).items():
            value = environment(service).get("SIDECAR_N8N_MEMORY_LIMIT_BYTES", "")
            if list(referenced(value)) != ["N8N_MEMORY_LIMIT_BYTES"]:
                problems.append(
                    f"{profile}/{name}: the sidecar's limit does not follow the variable"
                )
    defaults = rendered_all(d)["defaults"]
    documented = compose_bytes(given.get("N8N_MEMORY_LIMIT_BYTES"))
    for profile, doc in defaults.items():
        default = compose_bytes(doc["services"]["n8n"].get("mem_limit"))
        if default != documented:
            problems.append(f"{profile}: default limit {default}, .env.example says {documented}")
    return problems


def check_n8n_metrics(d: Deployment) -> list[str]:
    """n8n serves /metrics with its default (process, event-loop) metrics."""
    problems = []
    for profile, doc in rendered_all(d)["example"].items():
        env = environment(doc["services"]["n8n"])
        if env.get("N8N_METRICS", "").lower() != "true":
            problems.append(f"{profile}: n8n's N8N_METRICS is {env.get('N8N_METRICS')!r}")
        if env.get("N8N_METRICS_INCLUDE_DEFAULT_METRICS", "true").lower() != "true":
            problems.append(f"{profile}: n8n's default metrics are off")
        if env.get("N8N_METRICS_PREFIX", "n8n_") != "n8n_":
            problems.append(f"{profile}: N8N_METRICS_PREFIX changed")
        if env.get("EXECUTIONS_DATA_SAVE_ON_SUCCESS", "all") != "all":
            problems.append(f"{profile}: successful executions unsaved: the API cannot see them")
    return problems


def check_api_key_passed(d: Deployment) -> list[str]:
    """The gateway gets SIDECAR_N8N_API_KEY when set (execution signal: n8n API), and is
    blind without it (execution signal: answer time)."""
    problems = []
    docs = rendered_all(d)
    for profile in d.compose:
        for name, service in gateways(docs["everything"][profile]).items():
            s = settings_from(environment(service))
            key = s.n8n_api_key.get_secret_value() if s.n8n_api_key else None
            if key != PLAUSIBLE["SIDECAR_N8N_API_KEY"]:
                problems.append(f"everything/{profile}/{name}: API key not passed on")
            if signal_sources(s)["exec_p95_seconds"].source != "n8n API":
                problems.append(f"everything/{profile}/{name}: execution time not from n8n")
        for name, service in gateways(docs["defaults"][profile]).items():
            s = settings_from(environment(service))
            if not signal_sources(s)["exec_p95_seconds"].blind:
                problems.append(f"defaults/{profile}/{name}: no key, yet not blind")
    return problems


CHECKS: list[Callable[[Deployment], list[str]]] = [
    check_n8n_memory_limit,
    check_one_memory_variable,
    check_n8n_metrics,
    check_api_key_passed,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_the_real_files_pass(real: Deployment, check: Callable) -> None:  # noqa: F811
    assert check(real) == []


def _services(d: Deployment, profile: str) -> dict:
    return d.compose[profile]["services"]


def _drop_n8n_limit(d: Deployment) -> None:
    _services(d, "queue")["n8n"].pop("mem_limit")


def _other_sidecar_limit(d: Deployment) -> None:
    _services(d, "single")["sidecar"]["environment"]["SIDECAR_N8N_MEMORY_LIMIT_BYTES"] = (
        "1073741824"
    )


def _host_memory(d: Deployment) -> None:
    _services(d, "single")["sidecar"]["environment"]["SIDECAR_MEMORY_SOURCE"] = "host"


def _other_default(d: Deployment) -> None:
    _services(d, "single")["n8n"]["mem_limit"] = "${N8N_MEMORY_LIMIT_BYTES:-1073741824}"


def _metrics_off(d: Deployment) -> None:
    _services(d, "queue")["n8n"]["environment"].pop("N8N_METRICS")


def _executions_unsaved(d: Deployment) -> None:
    _services(d, "single")["n8n"]["environment"]["EXECUTIONS_DATA_SAVE_ON_SUCCESS"] = "none"


def _key_dropped(d: Deployment) -> None:
    _services(d, "single")["sidecar"]["environment"].pop("SIDECAR_N8N_API_KEY")


BREAKAGES = [
    (check_n8n_memory_limit, _drop_n8n_limit),
    (check_n8n_memory_limit, _other_sidecar_limit),
    (check_n8n_memory_limit, _host_memory),
    (check_one_memory_variable, _other_sidecar_limit),
    (check_one_memory_variable, _other_default),
    (check_n8n_metrics, _metrics_off),
    (check_n8n_metrics, _executions_unsaved),
    (check_api_key_passed, _key_dropped),
]


@pytest.mark.parametrize(("check", "breakage"), BREAKAGES, ids=lambda f: f.__name__)
def test_each_check_catches_a_broken_copy(
    real: Deployment,  # noqa: F811
    check: Callable,
    breakage: Callable,
) -> None:
    breakage(real)
    assert check(real), f"{check.__name__} missed {breakage.__name__}"


def test_compose_byte_values() -> None:
    assert compose_bytes("2147483648") == 2 * 1024**3
    assert compose_bytes("512m") == 512 * 1024**2
    assert compose_bytes("2g") == compose_bytes(2147483648)
    assert compose_bytes(None) is None
    with pytest.raises(ValueError):
        compose_bytes("lots")
