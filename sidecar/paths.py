"""n8n's webhook path prefixes: the sidecar serves all of them, and queues only the first."""

WEBHOOK_PREFIXES = (
    "webhook",
    "webhook-test",
    "webhook-waiting",
    "form",
    "form-test",
    "form-waiting",
    "mcp",
    "mcp-test",
)
