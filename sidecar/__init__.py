"""n8n-sidecar: faithful passthrough, durable queue mode and automatic switching for n8n."""

__version__ = "0.1.0"
