"""The console's orders download: the API's CSV export, fetched with the admin secret for
a signed-in console and handed to the browser as a file."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from apps.web import retry
from apps.web.admin import signed_in
from apps.web.state import web_state
from drop.contracts import is_id

router = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("/orders.csv")
async def orders_csv(request: Request) -> Response:
    if not await signed_in(request):
        return RedirectResponse("/admin", status_code=303)
    drop_id = request.query_params.get("dropId", "").strip()
    if not is_id(drop_id):
        return RedirectResponse(f"/admin?error={quote('Give the id of a drop')}", 303)
    state = web_state(request)
    upstreams = state.upstreams
    headers = {"Authorization": f"Bearer {state.admin_secret}", "Accept": "text/csv"}
    path = f"{upstreams.api_url}/api/drops/{drop_id}/orders"
    try:
        built = upstreams.reads.build_request("GET", path, headers=headers)
        answer = await retry.send(upstreams.reads, built, stream=False)
    except httpx.HTTPError:
        answer = None
    if answer is None or not answer.is_success:
        why = "the drop service is unreachable" if answer is None else answer.text[:200]
        return RedirectResponse(f"/admin?error={quote(f'{drop_id}: {why}')}", 303)
    disposition = f'attachment; filename="{drop_id}-orders.csv"'
    return Response(
        answer.content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )
