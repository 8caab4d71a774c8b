"""GET /inbox: the agents' page. A static bundle (HTML, CSS, JS) served by the app itself, no CDN.

The page holds no data: its script reads the queue from /v1/inbox (with the agent's API key when
keys are configured) and sends corrections to /v1/feedback. A strict Content-Security-Policy
allows nothing but this origin: no inline script, no third-party resource.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

PAGE_DIR = Path(__file__).resolve().parents[1] / "inbox_page"
STATIC_PREFIX = "/inbox/static"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def build_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    index = (PAGE_DIR / "index.html").read_text(encoding="utf-8")

    @router.get("/inbox", response_class=HTMLResponse)
    async def inbox_page() -> HTMLResponse:
        return HTMLResponse(index, headers=SECURITY_HEADERS)

    return router


def mount_static(app: FastAPI) -> None:
    """Serve the page's script and style sheet under /inbox/static."""
    app.mount(STATIC_PREFIX, StaticFiles(directory=PAGE_DIR / "static"), name="inbox-static")
