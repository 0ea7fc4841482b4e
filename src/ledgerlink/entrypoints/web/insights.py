"""The Spending page and the chart images (issue 13): `/spending`, `/spending/charts/<name>.svg`
and a chat answer's chart `/spending/answers/<thread>/<chart id>.svg`.

Person-only: each is the signed-in person's own data, read through `access` with purpose
`show_to_person` (audited). The SVG is standalone (no script: `adapters/charts/pygal_charts`)
and served with its own Content-Security-Policy, so even opened directly it can run nothing and
load nothing. Every chart on the page has its text alternative beside it: a summary and a table
of every figure. Bad query input answers 422 with what was wrong; nothing of another person's
is ever drawn (their thread or account is "not found").
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ledgerlink.domain.errors import Forbidden, InvalidInput, NotFound
from ledgerlink.domain.mcc import Category
from ledgerlink.domain.privacy import Grant
from ledgerlink.entrypoints.dependencies import get_deps, signed_in
from ledgerlink.entrypoints.web.kit import not_found, page, see_other
from ledgerlink.services import access
from ledgerlink.services.insights import answer_cards
from ledgerlink.services.insights.spending import PURPOSE, Filter, Spending, parse_filter

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

SVG_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "same-origin",
}


def _spending(request: Request) -> Spending:
    found = getattr(request.app.state.container, "spending", None)
    assert isinstance(found, Spending)
    return found


def _filter(request: Request) -> Filter:
    q = request.query_params
    return parse_filter(today=get_deps(request).clock.now().date(), month=q.get("month"),
                        start=q.get("from"), end=q.get("to"), category=q.get("category"),
                        merchant=q.get("merchant"), account=q.get("account"))


def _svg(body: str) -> Response:
    return Response(body, media_type="image/svg+xml", headers=SVG_HEADERS)


def _no_svg(status: int, why: str) -> Response:
    return Response(why, status_code=status, media_type="text/plain; charset=utf-8", headers=SVG_HEADERS)


@router.get("/spending", response_class=HTMLResponse)
async def spending_page(request: Request) -> Response:
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    try:
        wanted = _filter(request)
        view = await _spending(request).view(grant, wanted)
    except InvalidInput as exc:
        return page(request, "error.html", 422, person=person, title="That view could not be shown",
                    message=f"{exc}.", status=422, back="/spending")
    except NotFound:
        return not_found(request, person)
    query = request.url.query
    return page(request, "spending.html", person=person, view=view, query=query,
                categories=[c.value for c in Category])


@router.get("/spending/charts/{name}.svg")
async def chart_svg(request: Request, name: str) -> Response:
    session = await signed_in(request)
    if session is None:
        return _no_svg(404, "not found")
    try:
        chart = await _spending(request).chart(session[0], name, _filter(request))
    except InvalidInput as exc:
        return _no_svg(422, f"{exc}")
    except NotFound:
        return _no_svg(404, "not found")
    return _svg(_spending(request).svg(chart, small=request.query_params.get("size") == "small"))


async def _answer_section(request: Request, grant: Grant, thread_id: str, chart_id: str) -> dict[str, object]:
    deps = get_deps(request)
    async with deps.uow() as uow:
        thread = await access.read_thread(uow, grant, thread_id)
        view = await access.read_message_by_subject(deps.vault, uow, grant, PURPOSE, thread,
                                                   answer_cards.subject_of(chart_id), at=deps.clock.now())
        await uow.commit()
    section = None if view is None else view.body.get("chart")
    if not isinstance(section, dict):
        raise NotFound("chart not found")
    return section


@router.get("/spending/answers/{thread_id}/{chart_id}.svg")
async def answer_svg(request: Request, thread_id: str, chart_id: str) -> Response:
    session = await signed_in(request)
    if session is None:
        return _no_svg(404, "not found")
    try:
        section = await _answer_section(request, session[0], thread_id, chart_id)
        chart = answer_cards.chart_of(section)
    except (NotFound, Forbidden, KeyError, ValueError, TypeError):
        return _no_svg(404, "not found")
    return _svg(_spending(request).svg(chart, small=True))
