"""Logging for the sidecar's processes: one format, and no secret in any log line.

`configure_logging(settings)` sets up the root logger and puts a `RedactingFilter` on its
handlers, so every line — ours, gunicorn's, RQ's, urllib3's — passes through `redact` with
the secrets this process knows (Redis password, n8n API key, management tokens, encryption
keys, the alert webhook URL's secret parts) before it is written.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from sidecar.redact import redact, url_secrets
from sidecar.settings import Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class RedactingFilter(logging.Filter):
    """Masks secrets in each record's message (formatted once, arguments folded in)."""

    def __init__(self, known: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.known = known

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with the secrets masked; never drops a record."""
        message = record.getMessage()
        masked = redact(message, *self.known)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_text is None and record.exc_info:
            record.exc_text = redact(
                logging.Formatter().formatException(record.exc_info), *self.known
            )
        return True


def known_secrets(settings: Settings) -> tuple[str, ...]:
    """Every secret value in `settings`, for masking."""
    values: list[str] = [*settings.admin_tokens]
    for secret in (settings.redis_password, settings.n8n_api_key, *settings.encryption_keys):
        if secret is not None:
            values.append(secret.get_secret_value())
    values += url_secrets(settings.alert_webhook_url)  # its path and query are the secret
    for url in (settings.redis_url, settings.n8n_url):  # only their passwords are
        password = urlsplit(url or "").password
        if password:
            values.append(password)
    return tuple(values)


def configure_logging(settings: Settings) -> None:
    """Root logger at SIDECAR_LOG_LEVEL, every handler masking `known_secrets(settings)`."""
    logging.basicConfig(level=settings.log_level, format=FORMAT)
    redacting = RedactingFilter(known_secrets(settings))
    for handler in logging.getLogger().handlers:
        handler.addFilter(redacting)
