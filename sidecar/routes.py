"""Per-route rules from SIDECAR_ROUTES_FILE (YAML or JSON), matched in order by path glob.

Rules match the canonical path (sidecar/route_path.py): percent-decoded, without trailing
slash, as n8n resolves it. So a `match` is written decoded and never ends with '/'.

- match: /webhook/telegram/*        # fnmatch glob on the path ('*' also crosses '/')
  queue: telegram:command           # which queue (default webhooks:inbound)
  sync: false                       # true: always pass through, even in queue mode
  dedup_key: body.update_id         # header name, body.<json path> or query.<name>
  user_key: body.message.from.id    # same forms; default header X-User-Id
  rate_limit: 20/60                 # n per window seconds, per user (default settings)
  hmac: {secret_env: TG_SECRET, header: X-Signature, algorithm: sha256,
         encoding: hex, prefix: "sha256="}
  secret: {env: TG_SECRET, header: X-Telegram-Bot-Api-Secret-Token}  # shared secret
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sidecar.backend.queue_names import inbound_queue, resolve
from sidecar.errors import ConfigError
from sidecar.settings import Settings, read_secret


class HmacRule(BaseModel):
    """Signature check: HMAC of the raw body with the secret in env var `secret_env`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    secret_env: str = Field(min_length=1)
    header: str = Field(min_length=1)
    algorithm: Literal["sha256", "sha1", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""


class SecretRule(BaseModel):
    """Shared-secret check: header `header` must equal the secret in env var `env` (Telegram's
    X-Telegram-Bot-Api-Secret-Token, GitLab's X-Gitlab-Token)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    env: str = Field(min_length=1)
    header: str = Field(min_length=1)


class RateLimit(BaseModel):
    """`limit` requests per `window` seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    limit: int = Field(ge=1)
    window: int = Field(ge=1)


class RouteRule(BaseModel):
    """One rule of the routes file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    match: str = Field(min_length=1)
    queue: str | None = None
    sync: bool = False
    dedup_key: str | None = None
    user_key: str | None = None
    rate_limit: RateLimit | None = None
    hmac: HmacRule | None = None
    secret: SecretRule | None = None

    @field_validator("match")
    @classmethod
    def _match(cls, value: str) -> str:
        if value != "/" and value.endswith("/"):
            raise ValueError(
                "must not end with '/': paths are matched without their trailing slash"
            )
        return value

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _rate(cls, value: object) -> object:
        if isinstance(value, str):
            limit, _, window = value.partition("/")
            if not (limit.strip().isdigit() and window.strip().rstrip("s").isdigit()):
                raise ValueError("must be 'N/SECONDS' (e.g. 20/60) or {limit, window}")
            return {"limit": int(limit), "window": int(window.strip().rstrip("s"))}
        return value

    def matches(self, path: str) -> bool:
        """Whether this rule applies to canonical path `path`."""
        return fnmatch.fnmatchcase(path, self.match)


@dataclass(frozen=True)
class Route:
    """A matched `rule` with the full `queue` name it sends to, resolved when the routes load:
    what travels with a webhook from the ingress to the intake."""

    rule: RouteRule
    queue: str


class Routes:
    """The ordered rules, each with its queue resolved once. Parameters: `rules`, `settings`."""

    def __init__(self, rules: list[RouteRule], settings: Settings) -> None:
        self.rules, self.settings = rules, settings
        self.default = RouteRule(match="*")
        self.routes = [self.resolved(rule) for rule in rules]
        self.default_route = self.resolved(self.default)

    def match(self, path: str) -> Route:
        """The first route matching canonical path `path`, else the route with every default."""
        return next(
            (route for route in self.routes if route.rule.matches(path)), self.default_route
        )

    def for_path(self, path: str) -> RouteRule:
        """The first rule matching canonical path `path`, else a rule with every default."""
        return self.match(path).rule

    def resolved(self, rule: RouteRule) -> Route:
        """`rule` with the full queue name it sends to."""
        return Route(rule, self.queue_of(rule))

    def signature_headers(self) -> list[str]:
        """The header names the rules check HMAC signatures or shared secrets in."""
        return [check.header for rule in self.rules for check in (rule.hmac, rule.secret) if check]

    def queue_of(self, rule: RouteRule) -> str:
        """The full queue name a rule sends to."""
        if rule.queue is None:
            return inbound_queue(self.settings.queue_prefix)
        return resolve(self.settings.queue_prefix, rule.queue)


def load_routes(settings: Settings) -> Routes:
    """Read and validate SIDECAR_ROUTES_FILE (none: no rules); ConfigError lists every problem."""
    if not settings.routes_file:
        return Routes([], settings)
    raw = _read(Path(settings.routes_file))
    if not isinstance(raw, list):
        raise ConfigError(["SIDECAR_ROUTES_FILE: must hold a list of rules"])
    rules, problems = [], []
    for number, item in enumerate(raw, start=1):
        try:
            rules.append(_rule(item, settings))
        except (ValidationError, ValueError) as exc:
            problems.extend(_describe(number, item, exc))
    if problems:
        raise ConfigError(problems)
    return Routes(rules, settings)


def _read(path: Path) -> object:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError([f"SIDECAR_ROUTES_FILE: cannot read {path}: {exc.strerror}"]) from None
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(
            [f"SIDECAR_ROUTES_FILE: {path} is not valid: {exc}".splitlines()[0]]
        ) from None


def _rule(item: object, settings: Settings) -> RouteRule:
    rule = RouteRule.model_validate(item)
    if rule.queue is not None:
        resolve(settings.queue_prefix, rule.queue)  # ValueError names the unknown queue
    if rule.hmac is not None and read_secret(rule.hmac.secret_env) is None:
        raise ValueError(f"hmac.secret_env: environment variable {rule.hmac.secret_env} is not set")
    if rule.secret is not None and read_secret(rule.secret.env) is None:
        raise ValueError(f"secret.env: environment variable {rule.secret.env} is not set")
    return rule


def _describe(number: int, item: object, exc: Exception) -> list[str]:
    where = f"SIDECAR_ROUTES_FILE rule {number}"
    if isinstance(item, dict) and "match" in item:
        where += f" ({item['match']})"
    if isinstance(exc, ValidationError):
        return [
            f"{where}: {'.'.join(str(p) for p in err['loc']) or 'rule'}: "
            f"{err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        ]
    return [f"{where}: {exc}"]
