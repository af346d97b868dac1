"""The console's routes, put into the application."""

from __future__ import annotations

from fastapi import FastAPI

from smsgate.api.console import (
    accounts,
    assets,
    dashboard,
    limits,
    messages,
    numbers,
    passcodes,
    permissions,
    tokens,
)
from smsgate.api.console.errors import PageError
from smsgate.api.console.rendering import page_error

#: Each page module's router; a new page adds its module here.
PAGES = (dashboard, messages, accounts, tokens, passcodes, permissions, limits, numbers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(PageError, page_error)
    app.include_router(assets.router)
    for module in PAGES:
        app.include_router(module.router)
