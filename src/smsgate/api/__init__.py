"""Faces (north): the HTTP APIs, one router module per resource."""
