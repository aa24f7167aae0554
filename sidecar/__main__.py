"""`python -m sidecar` is the same as `n8n-sidecar`."""

from sidecar.cli.main import main

main(prog_name="n8n-sidecar")
