"""The victim's hashing page (``monitor.hasherpage``), served by the web app.

``/hasher.html`` is the generic page: anyone may fetch it (it holds no data, only the
page's own code), so an NGO can link to it. ``/cases/N/hasher.html`` is the page made for
one case, for an analyst to send to her: it seals its files with a key for that case
(the making is audit-logged). Both are one self-contained file; ``?download=1`` asks the
browser to save the generic page rather than show it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from monitor import hasherpage
from monitor.web.auth import Analyst, installation

router = APIRouter()


def _page(body: str, csp: str, filename: str | None) -> Response:
    response = Response(body, media_type="text/html; charset=utf-8")
    # The app's own policy allows no inline script; this page's names its scripts' hashes.
    response.headers["Content-Security-Policy"] = csp
    if filename is not None:
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@router.get("/hasher.html", include_in_schema=False)
def generic(request: Request, download: bool = False) -> Response:
    body, csp = hasherpage.generic_page(installation(request))
    return _page(body, csp, "hashing-page.html" if download else None)


@router.get("/cases/{case_id}/hasher.html", include_in_schema=False)
def for_case(ctx: Analyst, case_id: int) -> Response:
    body, csp = hasherpage.case_page(ctx.app, case_id)
    return _page(body, csp, "hashing-page.html")
