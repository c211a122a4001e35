"""HTTP API versions; each is a blueprint registered by the app factory."""
