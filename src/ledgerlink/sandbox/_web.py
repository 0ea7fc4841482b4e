"""Customer-facing pages: login, account selection and consent, and the consent portal."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from authlib.oauth2 import OAuth2Error
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ledgerlink.sandbox._model import iso
from ledgerlink.sandbox._oauth import Grantor, HttpRequest, HttpResponse
from ledgerlink.sandbox.bank import SandboxBank

COOKIE = "sbx_session"
SESSION_TTL = timedelta(hours=1)
SCOPE_TEXT = {
    "balances": "See the current and available balance of the selected accounts",
    "transactions": "See pending and posted transactions of the selected accounts",
    "alerts": "Receive account alerts (large transactions, security notices)",
}
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                          autoescape=jinja2.select_autoescape(default=True))


@dataclass
class Session:
    login: str
    csrf: str
    expires_at: datetime


class Sessions:
    def __init__(self, bank: SandboxBank) -> None:
        self._bank = bank
        self._by_id: dict[str, Session] = {}

    def create(self, login: str) -> str:
        sid = secrets.token_urlsafe(32)
        self._by_id[sid] = Session(login, secrets.token_urlsafe(24),
                                   self._bank.clock.now() + SESSION_TTL)
        return sid

    def get(self, request: Request) -> Session | None:
        session = self._by_id.get(request.cookies.get(COOKIE, ""))
        if session is None or self._bank.clock.now() >= session.expires_at:
            return None
        return session

    def drop(self, request: Request) -> None:
        self._by_id.pop(request.cookies.get(COOKIE, ""), None)


def render(name: str, status: int = 200, *, bank_name: str, **context: Any) -> HTMLResponse:
    html = _env.get_template(name).render(bank_name=bank_name, **context)
    return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})


def to_starlette(resp: HttpResponse) -> Response:
    headers = dict(resp.headers)
    if resp.status == 302:
        return RedirectResponse(headers["Location"], status_code=302)
    return JSONResponse(resp.body, status_code=resp.status, headers=headers)


def _error_page(error: OAuth2Error, bank_name: str) -> HTMLResponse:
    return render("error.html", 400, bank_name=bank_name,
                  title="This link request cannot continue",
                  error=error.error, description=error.description or "")


def _csrf_ok(session: Session, form_value: object) -> bool:
    return isinstance(form_value, str) and hmac.compare_digest(form_value, session.csrf)


def _safe_next(value: object) -> str:
    if isinstance(value, str) and (value.startswith("/oauth/authorize?") or value == "/portal"):
        return value
    return "/portal"


def router(bank: SandboxBank, sessions: Sessions) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    srv = bank.auth
    brand = bank.config.name  # each bank instance shows its own name

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return render(name, status, bank_name=brand, **context)

    def oauth_request(request: Request, form: list[tuple[str, str]] | None = None) -> HttpRequest:
        return HttpRequest(request.method, str(request.url), request.headers,
                           list(request.query_params.multi_items()), form or [])

    def consent_page(request: Request, session: Session, grant: Any, error: str = "") -> Response:
        client = grant.request.client
        scopes = grant.request.scope.split()
        return page("consent.html", 400 if error else 200, client_name=client.config.name,
                    customer=bank.ledger.customer(session.login), scopes=scopes,
                    scope_text=SCOPE_TEXT, accounts=bank.accounts_of(session.login),
                    query=request.url.query, csrf=session.csrf, error=error,
                    consent_days=bank.config.consent_days)

    @r.get("/oauth/authorize")
    async def authorize_page(request: Request) -> Response:
        try:
            grant = srv.get_consent_grant(oauth_request(request), end_user=None)
        except OAuth2Error as error:
            if error.redirect_uri:
                return to_starlette(srv.handle_error_response(None, error))
            return _error_page(error, brand)
        session = sessions.get(request)
        if session is None:
            return page("login.html", next=f"/oauth/authorize?{request.url.query}",
                        client_name=grant.request.client.config.name, error="")
        return consent_page(request, session, grant)

    @r.post("/oauth/authorize")
    async def authorize_decision(request: Request) -> Response:
        form = await request.form()
        pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        try:
            grant = srv.get_consent_grant(oauth_request(request, []), end_user=None)
        except OAuth2Error as error:
            if error.redirect_uri:
                return to_starlette(srv.handle_error_response(None, error))
            return _error_page(error, brand)
        session = sessions.get(request)
        if session is None or not _csrf_ok(session, form.get("csrf")):
            return page("error.html", 403, title="Your session has expired",
                        error="session_expired", description="Start linking again from the app.")
        decision = form.get("decision")
        grantor: Grantor | None = None
        if decision == "approve":
            own = {a.account_id for a in bank.accounts_of(session.login)}
            chosen = tuple(v for k, v in pairs if k == "account_id" and v in own)
            if not chosen:
                return consent_page(request, session, grant, "Select at least one account.")
            grantor = Grantor(session.login, tuple(dict.fromkeys(chosen)))
        resp = srv.create_authorization_response(request=grant.request, grant_user=grantor,
                                                 grant=grant)
        return to_starlette(resp)

    @r.get("/login")
    async def login_page(request: Request, next: str = "/portal") -> Response:
        return page("login.html", next=_safe_next(next), client_name=None, error="")

    @r.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        login_name = str(form.get("login", "")).strip().lower()
        password = str(form.get("password", ""))
        target = _safe_next(form.get("next"))
        customer = bank.ledger.customers.get(login_name)
        if customer is None or not hmac.compare_digest(password.encode(),
                                                       customer.password.encode()):
            return page("login.html", 401, next=target, client_name=None,
                        error="That login and password do not match.")
        sid = sessions.create(customer.login)
        resp = RedirectResponse(target, status_code=303)
        resp.set_cookie(COOKIE, sid, httponly=True, samesite="lax", path="/",
                        max_age=int(SESSION_TTL.total_seconds()))
        return resp

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        sessions.drop(request)
        resp = RedirectResponse("/portal", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    @r.get("/portal")
    async def portal(request: Request) -> Response:
        session = sessions.get(request)
        if session is None:
            return RedirectResponse("/login?" + urlencode({"next": "/portal"}), status_code=303)
        now = bank.clock.now()
        accounts = {a.account_id: a for a in bank.accounts_of(session.login)}
        rows = [{"consent": c, "client": srv.clients[c.client_id].config.name,
                 "accounts": [accounts[a] for a in c.account_ids if a in accounts],
                 "active": c.active(now), "created": iso(c.created_at)[:10],
                 "expires": iso(c.expires_at)[:10]}
                for c in bank.consents_of(session.login)]
        balances = {a.account_id: bank.ledger.balance(a.account_id, now=now)
                    for a in accounts.values()}
        cards = {c.account_id: c for c in bank.cards_of(session.login)}  # to pay at the sandbox shop
        return page("portal.html", customer=bank.ledger.customer(session.login), rows=rows,
                    accounts=list(accounts.values()), balances=balances, cards=cards, csrf=session.csrf)

    @r.post("/portal/consents/{consent_id}/revoke")
    async def portal_revoke(request: Request, consent_id: str) -> Response:
        form = await request.form()
        session = sessions.get(request)
        consent = bank.ledger.consents.get(consent_id)
        if session is None or not _csrf_ok(session, form.get("csrf")):
            return RedirectResponse("/portal", status_code=303)
        if consent is None or consent.login != session.login:
            return page("error.html", 404, title="Not found", error="consent_not_found",
                        description="There is no such connection on your profile.")
        await bank.revoke_consent(consent_id)
        return RedirectResponse("/portal", status_code=303)

    return r
