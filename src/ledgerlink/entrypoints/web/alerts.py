"""The alerts section of the settings: `/settings/alerts`, and "Not helpful" from an alert card.

One form endpoint: each form names its `action`. Bad input re-renders the page (422) with the
error next to the form that caused it; nothing is half-saved.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ledgerlink.domain import alerts, digest_schedule
from ledgerlink.domain.errors import InvalidInput, NotFound
from ledgerlink.domain.privacy import Grant
from ledgerlink.entrypoints.dependencies import get_deps, signed_in
from ledgerlink.entrypoints.web.kit import not_found, page, see_other, signed_in_form
from ledgerlink.services.alerts import digests, rules

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

NOTICES = {"saved": "Saved.", "feedback": "Thanks: we count it, and nothing else is kept."}


async def _render(request: Request, grant: Grant, person: object, *, status: int = 200,
                  errors: dict[str, str] | None = None, notice: str | None = None,
                  feedback: str | None = None) -> Response:
    view = await rules.overview(get_deps(request), grant)
    return page(request, "alerts.html", status, person=person, view=view, errors=errors or {},
                notice=NOTICES.get(notice or ""), words=alerts.KIND_WORDS,
                feedback=feedback if feedback in alerts.KIND_WORDS else None,
                digest=await digests.current(get_deps(request), grant), weekdays=digest_schedule.WEEKDAYS)


@router.get("/settings/alerts", response_class=HTMLResponse)
async def alerts_page(request: Request, notice: str | None = None) -> Response:
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    return await _render(request, *session, notice=notice)


@router.post("/settings/alerts", response_class=HTMLResponse)
async def change(request: Request) -> Response:
    form_session = await signed_in_form(request, back="/settings/alerts")
    if isinstance(form_session, Response):
        return form_session
    grant, person, form = form_session
    deps = get_deps(request)
    action = form.get("action", "")
    try:
        if action == "threshold":
            kind = form.get("kind", "")
            amount = alerts.parse_amount(form.get("amount", ""))
            await rules.set_threshold(deps, grant, kind, amount, account_id=form.get("account_id") or None)
        elif action == "toggle":
            await rules.set_enabled(deps, grant, form.get("kind", ""), form.get("on") == "1")
        elif action == "mute":
            await rules.mute(deps, grant, form.get("merchant", ""))
        elif action == "delete":
            await rules.delete_rule(deps, grant, form.get("rule_id", ""))
        elif action == "home_country":  # international purchases (message templates)
            await rules.set_home_country(deps, grant, form.get("country", ""))
        elif action == "digest":
            schedule = digest_schedule.make_schedule(
                frequency=form.get("frequency", ""), hour=form.get("hour", ""),
                weekday=form.get("weekday", ""), utc_offset=form.get("utc_offset", ""))
            await digests.set_schedule(deps, grant, schedule)
        elif action == "quiet":
            await rules.set_quiet_hours(deps, grant, start=form.get("start", ""), end=form.get("end", ""),
                                         utc_offset=form.get("utc_offset", ""))
        else:
            raise InvalidInput("Unknown change.", code="bad_action")
    except InvalidInput as exc:
        where = form.get("form", action)
        return await _render(request, grant, person, status=422, errors={where: str(exc)})
    except NotFound:
        return not_found(request, person)
    return see_other("/settings/alerts?notice=saved")


@router.get("/alerts/feedback", response_class=HTMLResponse)
async def feedback_page(request: Request, kind: str = "") -> Response:
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    return await _render(request, *session, feedback=kind)


@router.post("/alerts/feedback", response_class=HTMLResponse)
async def feedback(request: Request) -> Response:
    form_session = await signed_in_form(request, back="/settings/alerts")
    if isinstance(form_session, Response):
        return form_session
    grant, person, form = form_session
    try:
        await rules.record_feedback(get_deps(request), grant, form.get("kind", ""))
    except InvalidInput as exc:
        return await _render(request, grant, person, status=422, errors={"feedback": str(exc)})
    return see_other("/settings/alerts?notice=feedback")
