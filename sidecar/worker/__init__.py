"""Delivery workers: take queued webhooks and replay them to n8n."""
