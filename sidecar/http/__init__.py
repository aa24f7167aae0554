"""HTTP layer: blueprints for webhooks, health and the management API."""
