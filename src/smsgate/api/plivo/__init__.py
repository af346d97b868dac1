"""Plivo's Messaging REST API, field for field, so Plivo's SDKs work unchanged."""
