"""smsgate: a self-hosted SMS gateway with a Plivo-compatible API."""

__version__ = "0.1.0"
