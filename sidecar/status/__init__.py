"""The /status page: sign-in, data gathering, SVG charts."""
