"""The alerts section of the settings: `/settings/alerts`, and "Not helpful" from an alert card.

One form endpoint: each form names its `action`. Bad input re-renders the page (422) with
every error of the form next to its field, all at once; nothing is half-saved. Quiet hours and
digests follow the person's IANA time zone (ADR 0025): a searchable list, preselected from the
browser's zone (hidden field `browser_zone`) until the person keeps one.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ledgerlink.domain import alerts, digest_schedule
from ledgerlink.domain.errors import InvalidInput, NotFound
from ledgerlink.domain.insight_rules import INSIGHT_SWITCHES, INSIGHT_WORDS
from ledgerlink.domain.privacy import Grant
from ledgerlink.entrypoints.dependencies import get_deps, signed_in
from ledgerlink.entrypoints.web.kit import not_found, page, see_other, signed_in_form
from ledgerlink.services.alerts import digests, insights, rules
from ledgerlink.services.kernel.deps import Deps

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

NOTICES = {"saved": "Saved.", "feedback": "Thanks: we count it, and nothing else is kept."}


async def _render(request: Request, grant: Grant, person: Any, *, status: int = 200,
                  errors: dict[str, str] | None = None, notice: str | None = None,
                  feedback: str | None = None, typed: dict[str, str] | None = None) -> Response:
    deps = get_deps(request)
    view = await rules.overview(deps, grant)
    zone = await digests.effective_zone(deps, grant)
    words = {**alerts.KIND_WORDS, **INSIGHT_WORDS}
    labels = {**{k: f"{w[:1].upper()}{w[1:]} alerts" for k, w in alerts.KIND_WORDS.items()},
              **{k: label for k, (label, _) in INSIGHT_SWITCHES.items()}}
    return page(request, "alerts.html", status, person=person, view=view, errors=errors or {},
                notice=NOTICES.get(notice or ""), words=words, labels=labels,
                feedback=feedback if feedback in words else None,
                digest=await digests.current(deps, grant), weekdays=digest_schedule.WEEKDAYS,
                zone=zone, zone_chosen=getattr(person, "zone", None) is not None,
                zone_label=digest_schedule.zone_label(zone, deps.clock.now()),
                zones=digest_schedule.zone_names(), now=deps.clock.now(), typed=typed or {},
                insight_switches=INSIGHT_SWITCHES)


def _check(errors: dict[str, str], key: str, check: Callable[[], object]) -> None:
    try:
        check()
    except InvalidInput as exc:
        errors[key] = str(exc)


async def _adopt_browser_zone(deps: Deps, grant: Grant, person: Any, form: dict[str, str]) -> None:
    """Before a zone is chosen, saving quiet hours or a digest keeps the browser's zone."""
    if getattr(person, "zone", None) is None and form.get("browser_zone"):
        with suppress(InvalidInput):  # an odd browser zone: the fixed offset (or UTC) stays
            await digests.set_zone(deps, grant, form["browser_zone"])


def _digest_errors(form: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    frequency = form.get("frequency", "")
    _check(errors, "digest-frequency", lambda: digest_schedule.make_schedule(frequency=frequency, hour=0,
                                                                             weekday=0))
    if frequency.strip().lower() != digest_schedule.OFF:
        _check(errors, "digest-hour", lambda: digest_schedule.make_schedule(
            frequency="daily", hour=form.get("hour", ""), weekday=0))
        _check(errors, "digest-weekday", lambda: digest_schedule.make_schedule(
            frequency="weekly", hour=0, weekday=form.get("weekday", "")))
    return errors


def _quiet_errors(form: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    _check(errors, "quiet-start", lambda: digest_schedule.quiet_values(form.get("start", ""), "0"))
    _check(errors, "quiet-end", lambda: digest_schedule.quiet_values("0", form.get("end", "")))
    return errors


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
        elif action == "toggle":  # an insight kind (issue 13) has its own switch beside the others
            kind = form.get("kind", "")
            await (insights if kind in INSIGHT_SWITCHES else rules).set_enabled(deps, grant, kind,
                                                                                form.get("on") == "1")
        elif action == "mute":
            await rules.mute(deps, grant, form.get("merchant", ""))
        elif action == "delete":
            await rules.delete_rule(deps, grant, form.get("rule_id", ""))
        elif action == "home_country":  # international purchases (message templates)
            await rules.set_home_country(deps, grant, form.get("country", ""))
        elif action == "zone":
            await digests.set_zone(deps, grant, form.get("zone", ""))
        elif action in ("digest", "quiet"):
            field_errors = (_digest_errors if action == "digest" else _quiet_errors)(form)
            if field_errors:
                return await _render(request, grant, person, status=422, errors=field_errors, typed=form)
            await _adopt_browser_zone(deps, grant, person, form)
            if action == "digest":
                await digests.set_schedule(deps, grant, digest_schedule.make_schedule(
                    frequency=form.get("frequency", ""), hour=form.get("hour", ""),
                    weekday=form.get("weekday", "")))
            else:
                await rules.set_quiet_hours(deps, grant, start=form.get("start", ""), end=form.get("end", ""))
        else:
            raise InvalidInput("Unknown change.", code="bad_action")
    except InvalidInput as exc:
        where = form.get("form", action)
        return await _render(request, grant, person, status=422, errors={where: str(exc)}, typed=form)
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
    kind = form.get("kind", "")
    try:
        await rules.record_feedback(get_deps(request), grant, kind)
    except InvalidInput as exc:
        return await _render(request, grant, person, status=422, errors={"feedback": str(exc)}, feedback=kind)
    return see_other("/settings/alerts?notice=feedback")
