"""``/admin``: messages per hour over the last day by state, the queue, the channels."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from smsgate.api.console import chart
from smsgate.api.console.auth import CurrentAdmin
from smsgate.api.console.rendering import page
from smsgate.core.clock import seconds
from smsgate.core.gateway import Gateway
from smsgate.store import reports

router = APIRouter(prefix="/admin", include_in_schema=False)

BUCKET = seconds(3600)
BUCKETS = 24


@router.get("")
async def dashboard(request: Request, admin: CurrentAdmin) -> Response:
    gateway: Gateway = request.app.state.gateway
    now = gateway.clock.now_us()
    # The last 24 whole hours and the hour under way.
    since = (now // BUCKET - (BUCKETS - 1)) * BUCKET
    counts = await gateway.db.read(lambda conn: reports.volume(conn, since, BUCKET, BUCKETS))
    return await page(
        request,
        admin,
        "dashboard.html",
        title="Dashboard",
        section="dashboard",
        chart=chart.build(counts, since, BUCKET, BUCKETS),
        queue_depth=await gateway.queue_depth(),
        channels=gateway.channel_status(),
    )


@router.get("/")
async def slash() -> Response:
    return RedirectResponse("/admin", status_code=308)
