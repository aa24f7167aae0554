"""WSGI entry point for running the gateway under a server of your choice:
`gunicorn -k gthread --threads 32 sidecar.wsgi:app` (settings from the environment)."""

from sidecar.app import create_app
from sidecar.settings import load_settings

app = create_app(load_settings())
