"""The `n8n-sidecar` command line: the group in `main`, one module per command family."""
