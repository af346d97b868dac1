"""The ASGI application: every face's routes around one gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from smsgate import __version__
from smsgate.api import errors, inbound_endpoints, ops, segments, send_page, smssender, smstools_api
from smsgate.api.admin import channels as admin_channels
from smsgate.api.admin import numbers as admin_numbers
from smsgate.api.admin import passcodes as admin_passcodes
from smsgate.api.admin import tokens as admin_tokens
from smsgate.api.console import routes as console
from smsgate.api.fastpath import FastPath
from smsgate.api.links import router as one_time_links_router
from smsgate.api.middleware import AccessLog, TrailingSlash
from smsgate.api.plivo import applications as plivo_applications
from smsgate.api.plivo import messages as plivo_messages
from smsgate.api.plivo import numbers as plivo_numbers
from smsgate.api.responses import JSONResponse
from smsgate.core.gateway import Gateway
from smsgate.smpp_server.server import SmppServer

DESCRIPTION = """\
smsgate is a self-hosted SMS gateway. Its primary API is Plivo's Messaging REST API: point a
Plivo SDK at it and it works unchanged. Authenticate with HTTP Basic (auth_id, auth_token).
"""


def create_app(
    gateway: Gateway,
    *,
    manage_gateway: bool = True,
    access_log: bool = True,
    log_format: str = "console",
    on_started: Callable[[], None] | None = None,
) -> FastAPI:
    """The application. With ``manage_gateway`` it starts and stops the gateway with itself;
    the SMPP server face runs with it when ``[smpp_server]`` is enabled; ``on_started`` runs
    once they are up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_gateway:
            await gateway.start()
        smpp: SmppServer | None = None
        try:
            if gateway.settings.smpp_server.enabled:
                smpp = app.state.smpp_server = SmppServer(gateway)
                await smpp.start()
            if on_started is not None:
                on_started()
            yield
        finally:
            if smpp is not None:
                await smpp.stop()
            if manage_gateway:
                await gateway.stop()

    # fastapi-offline serves the Swagger UI page's assets itself: no CDN, works offline.
    app = FastAPIOffline(
        title="smsgate",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        default_response_class=JSONResponse,
        redirect_slashes=False,
    )
    app.state.gateway = gateway
    errors.install(app)
    app.include_router(plivo_messages.router)
    app.include_router(plivo_applications.router)
    app.include_router(plivo_numbers.router)
    app.include_router(segments.router)
    app.include_router(admin_channels.router)
    app.include_router(admin_tokens.router)
    app.include_router(admin_passcodes.router)
    app.include_router(admin_numbers.router)
    app.include_router(ops.router)
    app.include_router(smssender.router)
    app.include_router(smstools_api.router)
    app.include_router(send_page.router)
    app.include_router(one_time_links_router)
    app.include_router(inbound_endpoints.router)
    console.install(app)
    app.add_middleware(FastPath, routes=plivo_messages.FAST_ROUTES)
    app.add_middleware(TrailingSlash)
    if access_log:
        app.add_middleware(AccessLog, fmt=log_format)
    return app
