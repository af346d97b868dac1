"""The console's stylesheet, served from the package (no CDN: the console works offline)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from starlette.responses import Response

from smsgate.api.console.rendering import HEADERS

router = APIRouter(prefix="/admin/assets", include_in_schema=False)


@cache
def _asset(name: str) -> bytes:
    return resources.files("smsgate.web").joinpath("console", name).read_bytes()


@router.get("/console.css")
async def stylesheet() -> Response:
    headers = {**HEADERS, "Cache-Control": "public, max-age=3600"}
    return Response(_asset("console.css"), media_type="text/css", headers=headers)
