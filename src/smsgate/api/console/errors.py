"""Refusals the console answers with a page of its own (rendered by ``rendering.py``)."""

from __future__ import annotations

from collections.abc import Mapping


class PageError(Exception):
    """Answer with an error page: ``status``, a short ``title`` and what happened, in plain
    words."""

    def __init__(
        self, status: int, title: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.headers = dict(headers or {})
