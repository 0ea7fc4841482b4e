"""An Enable Banking API simulator (https://enablebanking.com/docs/api/reference/).

- Every API call carries ``Authorization: Bearer <JWT>``: RS256, header ``kid`` = the
  application id, claims ``iss`` "enablebanking.com", ``aud`` "api.enablebanking.com",
  ``iat``, ``exp`` (at most a day apart), verified against the application's public key.
- `GET /application`, `GET /aspsps?country=&psu_type=`, `POST /auth` (access.valid_until,
  aspsp {name, country}, state, redirect_url, psu_type) answering the `url` of the simulated
  bank's consent page; the page redirects to ``redirect_url?code=...&state=...`` (or
  ``error=access_denied``). `POST /sessions {code}` creates the session; `GET` and
  `DELETE /sessions/{id}`; `GET /accounts/{uid}/details|balances|transactions`.
- Transactions are paged: a `continuation_key` (valid only in its session) until it is null.
  Booked entries (status BOOK) carry `entry_reference`, stable across sessions; pending ones
  (PDNG) do not, and when one posts it reappears as a new BOOK entry. `transaction_id`
  changes with every session, as documented.
- Account `uid`s belong to one session; `identification_hash` is the same in every session.
- PSD2: without PSU headers (``Psu-Ip-Address``) each account allows 4 balance and 4
  transaction reads a UTC day; then 429 ``ASPSP_RATE_LIMIT_EXCEEDED`` with Retry-After.
  Continuation pages do not count. Past `access.valid_until` the session is EXPIRED and data
  calls answer 401 ``EXPIRED_SESSION``; after DELETE, 401 ``CLOSED_SESSION``.
- Errors are Enable Banking's ErrorResponse: ``{"code", "message", "error", "detail"}``.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from ledgerlink.sandbox.providers._data import SimTransaction
from ledgerlink.sandbox.providers._eb_model import (
    Aspsp,
    EbError,
    EbSession,
    EnableBankingConfig,
    EnableBankingState,
    default_enablebanking_accounts,
)
from ledgerlink.sandbox.providers._pages import consent_page, plain_page

__all__ = ["Aspsp", "EnableBankingConfig", "EnableBankingState", "create_enablebanking_app",
           "default_enablebanking_accounts"]


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _aspsp_json(a: Aspsp, public_url: str) -> dict[str, Any]:
    return {"name": a.name, "country": a.country, "logo": f"{public_url}/sim/logo.png",
            "psu_types": ["personal"], "bic": a.bic, "beta": False,
            "auth_methods": [{"name": "redirect", "title": "Online banking", "psu_type": "personal",
                              "approach": "REDIRECT", "hidden_method": False}],
            "maximum_consent_validity": a.maximum_consent_validity,
            "required_psu_headers": ["Psu-Ip-Address", "Psu-User-Agent"]}


def create_enablebanking_app(config: EnableBankingConfig) -> FastAPI:
    """Build the app; `app.state.enablebanking` is the `EnableBankingState`."""
    state = EnableBankingState(config)
    public = config.public_url.rstrip("/")
    app = FastAPI(title="Enable Banking API (simulator)", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.enablebanking = state

    @app.exception_handler(EbError)
    async def on_error(_: Request, exc: EbError) -> Response:
        headers = {"retry-after": str(exc.retry_after)} if exc.retry_after else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    async def json_body(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise EbError(400, "WRONG_REQUEST_PARAMETERS", "The body is not JSON") from None
        if not isinstance(body, dict):
            raise EbError(422, "WRONG_REQUEST_PARAMETERS", "The body must be a JSON object")
        return body

    def app_of(request: Request) -> str:
        return state.application_for(request.headers.get("authorization"))

    @app.get("/application")
    async def application(request: Request) -> dict[str, Any]:
        kid = app_of(request)
        return {"name": "Simulated application", "kid": kid, "environment": "SANDBOX",
                "redirect_urls": config.redirect_urls, "active": True,
                "countries": sorted({a.country for a in config.aspsps}), "services": ["AIS"]}

    @app.get("/aspsps")
    async def aspsps(request: Request, country: str | None = None) -> dict[str, Any]:
        app_of(request)
        return {"aspsps": [_aspsp_json(a, public) for a in config.aspsps
                           if country is None or a.country == country.upper()]}

    @app.post("/auth")
    async def auth(request: Request) -> dict[str, Any]:
        return state.start(app_of(request), await json_body(request))

    @app.get("/sim/enablebanking/authorize/{authorization_id}")
    async def consent(authorization_id: str) -> Response:
        auth = state.authorizations.get(authorization_id)
        if auth is None or auth.used:
            return plain_page("Unknown authorization", ["This consent link is unknown or was used."],
                              status=404)
        return consent_page(provider="Enable Banking", bank=auth.aspsp.name,
                            action=f"{urlsplit(public).path}/sim/enablebanking/authorize/{auth.id}",
                            form_token=auth.form_token,
                            accounts=[a.name for a in state.ledger.accounts()],
                            valid_until=auth.valid_until.date().isoformat())

    @app.post("/sim/enablebanking/authorize/{authorization_id}")
    async def decide(authorization_id: str, request: Request) -> Response:
        form = await request.form()
        try:
            auth, code = state.decide(authorization_id, str(form.get("form_token", "")),
                                      form.get("decision") == "approve")
        except EbError as exc:
            return plain_page("Consent failed", [exc.message], status=exc.status)
        query = ({"code": code, "state": auth.state} if code else
                 {"error": "access_denied", "error_description": "The PSU declined", "state": auth.state})
        sep = "&" if "?" in auth.redirect_url else "?"
        return RedirectResponse(f"{auth.redirect_url}{sep}{urlencode(query)}", status_code=302)

    @app.post("/sessions")
    async def create_session(request: Request) -> dict[str, Any]:
        application_id = app_of(request)
        session = state.authorize_session(application_id, (await json_body(request)).get("code"))
        return {"session_id": session.id,
                "accounts": [state.account_resource(uid, state.ledger.account(key))
                             for uid, key in session.uids.items()],
                "aspsp": {"name": session.aspsp.name, "country": session.aspsp.country},
                "psu_type": session.psu_type, "access": _access(session)}

    @app.get("/sessions/{session_id}")
    async def get_session(session_id: str, request: Request) -> dict[str, Any]:
        session = state.session(app_of(request), session_id)
        hashes = {uid: state.account_resource(None, state.ledger.account(key))["identification_hash"]
                  for uid, key in session.uids.items()}
        out: dict[str, Any] = {
            "status": session.status(state.clock.now()), "accounts": list(session.uids),
            "accounts_data": [{"uid": uid, "identification_hash": h, "identification_hashes": [h]}
                              for uid, h in hashes.items()],
            "aspsp": {"name": session.aspsp.name, "country": session.aspsp.country},
            "psu_type": session.psu_type, "psu_id_hash": session.id[:8], "access": _access(session),
            "created": _iso(session.created), "authorized": _iso(session.created)}
        if session.closed is not None:
            out["closed"] = _iso(session.closed)
        return out

    @app.delete("/sessions/{session_id}")
    async def delete_session(session_id: str, request: Request) -> dict[str, Any]:
        session = state.session(app_of(request), session_id)
        if session.closed is None:
            session.closed = state.clock.now()
        return {"message": "OK"}

    @app.get("/accounts/{uid}/details")
    async def details(uid: str, request: Request) -> dict[str, Any]:
        _, account = state.account(app_of(request), uid)
        return state.account_resource(uid, account)

    @app.get("/accounts/{uid}/balances")
    async def balances(uid: str, request: Request) -> dict[str, Any]:
        session, account = state.account(app_of(request), uid)
        if not session.balances:
            raise EbError(403, "NO_ACCESS_TO_BALANCES", "The session gives no access to balances")
        state.count_read(session, uid, "balances", "psu-ip-address" in request.headers)
        now = state.clock.now()
        booked, available = state.ledger.balance(account.key, now=now)
        return {"balances": [
            {"name": name, "balance_amount": {"currency": account.currency, "amount": str(amount)},
             "balance_type": kind, "last_change_date_time": _iso(now),
             "reference_date": now.date().isoformat()}
            for name, kind, amount in (("Booked balance", "CLBD", booked),
                                       ("Available balance", "ITAV", available))]}

    @app.get("/accounts/{uid}/transactions")
    async def transactions(uid: str, request: Request) -> dict[str, Any]:
        session, account = state.account(app_of(request), uid)
        if not session.transactions:
            raise EbError(403, "NO_ACCESS_TO_TRANSACTIONS", "The session gives no access to transactions")
        query = request.query_params
        date_from, date_to = _date(query.get("date_from")), _date(query.get("date_to"))
        shape = f"{date_from}|{date_to}|{query.get('transaction_status') or ''}"
        key = query.get("continuation_key")
        if key:
            entry = state.continuations.get(key)
            if entry is None or entry[0] != session.id or entry[1] != uid or entry[3] != shape:
                raise EbError(422, "WRONG_CONTINUATION_KEY", "continuation_key is not valid for this request")
            offset = entry[2]
        else:
            state.count_read(session, uid, "transactions", "psu-ip-address" in request.headers)
            offset = 0
        now = state.clock.now()
        rows = [t for t in state.ledger.transactions(account.key, now=now)
                if _wanted(t, now, date_from, date_to, query.get("transaction_status"))]
        page = rows[offset:offset + config.page_size]
        next_key = None
        if offset + config.page_size < len(rows):
            next_key = secrets.token_urlsafe(18)
            state.continuations[next_key] = (session.id, uid, offset + config.page_size, shape)
        return {"transactions": [state.transaction(session, t, now) for t in page],
                "continuation_key": next_key}

    return app


def _access(session: EbSession) -> dict[str, Any]:
    return {"valid_until": _iso(session.valid_until), "balances": session.balances,
            "transactions": session.transactions}


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise EbError(422, "WRONG_REQUEST_PARAMETERS", "date_from and date_to must be YYYY-MM-DD") from None


def _wanted(txn: SimTransaction, now: datetime, date_from: date | None, date_to: date | None,
            status: str | None) -> bool:
    pending = txn.is_pending(now)
    if status and status != ("PDNG" if pending else "BOOK"):
        return False
    day = (txn.transacted_at if pending else txn.posted_at).date()
    return (date_from is None or day >= date_from) and (date_to is None or day <= date_to)
