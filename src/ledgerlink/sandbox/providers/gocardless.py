"""A GoCardless Bank Account Data simulator (https://developer.gocardless.com/bank-account-data/).

- `POST /api/v2/token/new/ {secret_id, secret_key}` -> access (a day) + refresh (30 days);
  `POST /api/v2/token/refresh/ {refresh}` -> a new access token. Every other call takes
  ``Authorization: Bearer <access>``; a dead one gets 401 "Invalid token".
- `GET /api/v2/institutions/?country=`, `GET /api/v2/institutions/{id}/`;
  `POST /api/v2/agreements/enduser/` (institution_id, max_historical_days,
  access_valid_for_days, access_scope), `GET .../{id}/`; `POST /api/v2/requisitions/`
  (redirect, institution_id, agreement, reference, user_language) answering a `link` to the
  simulated bank's consent page, which sends the person back to ``redirect?ref=<reference>``
  (or with ``error=UserCancelledSession``); `GET` / `DELETE /api/v2/requisitions/{id}/`.
- `GET /api/v2/accounts/{id}/` (metadata, not limited) and `.../details/`, `.../balances/`,
  `.../transactions/?date_from=&date_to=` (``{"transactions": {"booked", "pending"}}``).
- Limits: each account allows 4 successful reads a UTC day **per scope**; every answer says
  what is left in ``http_x_ratelimit_account_success_limit|remaining|reset``, and the fifth
  gets 429 "Rate limit exceeded" with those headers and Retry-After.
- Consent: an agreement is valid `access_valid_for_days` from its acceptance; after that
  account calls answer 401 "End User Agreement (EUA) ... has expired" and the requisition is
  ``EX``. New requisitions give new account ids; the bank's `transactionId` stays the same.
  Pending entries have only GoCardless's `internalTransactionId`; when one is booked it comes
  back as a new entry with the bank's `transactionId` and another `internalTransactionId`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from ledgerlink.sandbox.providers._gc_model import (
    GcError,
    GoCardlessConfig,
    GoCardlessState,
    Requisition,
    SimInstitution,
    default_gocardless_accounts,
)
from ledgerlink.sandbox.providers._pages import consent_page, plain_page

__all__ = ["GoCardlessConfig", "GoCardlessState", "SimInstitution", "create_gocardless_app",
           "default_gocardless_accounts"]

_API = "/api/v2"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _institution(inst: SimInstitution, public: str) -> dict[str, Any]:
    return {"id": inst.id, "name": inst.name, "bic": inst.bic,
            "transaction_total_days": str(inst.transaction_total_days),
            "max_access_valid_for_days": str(inst.max_access_valid_for_days),
            "countries": list(inst.countries), "logo": f"{public}/sim/logo.png",
            "supported_features": [], "identification_codes": []}


def create_gocardless_app(config: GoCardlessConfig) -> FastAPI:
    """Build the app; `app.state.gocardless` is the `GoCardlessState`."""
    state = GoCardlessState(config)
    public = config.public_url.rstrip("/")
    app = FastAPI(title="GoCardless Bank Account Data (simulator)", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.gocardless = state

    @app.exception_handler(GcError)
    async def on_error(_: Request, exc: GcError) -> Response:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers or None)

    async def body_of(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise GcError(400, "Parse error", "JSON parse error") from None
        if not isinstance(body, dict):
            raise GcError(400, "Parse error", "Expected a JSON object")
        return body

    def who(request: Request) -> str:
        return state.authenticate(request.headers.get("authorization"))

    def requisition_json(r: Requisition) -> dict[str, Any]:
        return {"id": r.id, "created": _iso(r.created), "redirect": r.redirect,
                "status": state.requisition_status(r), "institution_id": r.institution_id,
                "agreement": r.agreement.id, "reference": r.reference, "accounts": list(r.accounts),
                "user_language": r.user_language, "link": f"{public}/sim/gocardless/start/{r.id}",
                "ssn": None, "account_selection": False, "redirect_immediate": False}

    @app.post(f"{_API}/token/new/")
    async def token_new(request: Request) -> dict[str, Any]:
        body = await body_of(request)
        return state.new_token(body.get("secret_id"), body.get("secret_key"))

    @app.post(f"{_API}/token/refresh/")
    async def token_refresh(request: Request) -> dict[str, Any]:
        return state.refresh_token((await body_of(request)).get("refresh"))

    @app.get(f"{_API}/institutions/")
    async def institutions(request: Request, country: str | None = None) -> list[dict[str, Any]]:
        who(request)
        return [_institution(i, public) for i in config.institutions
                if country is None or country.upper() in i.countries]

    @app.get(f"{_API}/institutions/{{institution_id}}/")
    async def institution(institution_id: str, request: Request) -> dict[str, Any]:
        who(request)
        return _institution(state.institution(institution_id), public)

    def agreement_json(a: Any) -> dict[str, Any]:
        return {"id": a.id, "created": _iso(a.created), "institution_id": a.institution_id,
                "max_historical_days": a.max_historical_days,
                "access_valid_for_days": a.access_valid_for_days, "access_scope": a.access_scope,
                "accepted": _iso(a.accepted)}

    @app.post(f"{_API}/agreements/enduser/", status_code=201)
    async def create_agreement(request: Request) -> dict[str, Any]:
        return agreement_json(state.create_agreement(who(request), await body_of(request)))

    @app.get(f"{_API}/agreements/enduser/{{agreement_id}}/")
    async def get_agreement(agreement_id: str, request: Request) -> dict[str, Any]:
        return agreement_json(state.agreement(who(request), agreement_id))

    @app.post(f"{_API}/requisitions/", status_code=201)
    async def create_requisition(request: Request) -> dict[str, Any]:
        return requisition_json(state.create_requisition(who(request), await body_of(request)))

    @app.get(f"{_API}/requisitions/{{requisition_id}}/")
    async def get_requisition(requisition_id: str, request: Request) -> dict[str, Any]:
        return requisition_json(state.requisition(who(request), requisition_id))

    @app.delete(f"{_API}/requisitions/{{requisition_id}}/")
    async def delete_requisition(requisition_id: str, request: Request) -> dict[str, Any]:
        requisition = state.requisition(who(request), requisition_id)
        requisition.deleted = True
        return {"summary": "Requisition deleted",
                "detail": f"Requisition '{requisition.id}' deleted with all its End User Agreements"}

    @app.get("/sim/gocardless/start/{requisition_id}")
    async def consent(requisition_id: str) -> Response:
        r = state.requisitions.get(requisition_id)
        if r is None or r.deleted or r.status != "CR":
            return plain_page("Unknown link", ["This bank link is unknown or was used."], status=404)
        return consent_page(provider="GoCardless", bank=state.institution(r.institution_id).name,
                            action=f"{urlsplit(public).path}/sim/gocardless/start/{r.id}",
                            form_token=r.form_token,
                            accounts=[a.name for a in state.ledger.accounts()],
                            valid_until=f"{r.agreement.access_valid_for_days} days after you approve")

    @app.post("/sim/gocardless/start/{requisition_id}")
    async def decide(requisition_id: str, request: Request) -> Response:
        form = await request.form()
        try:
            r = state.decide(requisition_id, str(form.get("form_token", "")),
                             form.get("decision") == "approve")
        except GcError as exc:
            return plain_page("Link failed", [str(exc)], status=exc.status)
        query = {"ref": r.reference}
        if r.status == "RJ":
            query |= {"error": "UserCancelledSession", "details": "User cancelled the session"}
        sep = "&" if "?" in r.redirect else "?"
        return RedirectResponse(f"{r.redirect}{sep}{urlencode(query)}", status_code=302)

    @app.get(f"{_API}/accounts/{{account_id}}/")
    async def metadata(account_id: str, request: Request) -> dict[str, Any]:
        r, account = state.account(who(request), account_id)
        return {"id": account_id, "created": _iso(r.created), "last_accessed": _iso(state.clock.now()),
                "iban": account.iban, "institution_id": r.institution_id,
                "status": "EXPIRED" if state.requisition_status(r) == "EX" else "READY",
                "owner_name": "Alex Example"}

    @app.get(f"{_API}/accounts/{{account_id}}/details/")
    async def details(account_id: str, request: Request) -> Response:
        r, account = state.account(who(request), account_id)
        headers = state.check_access(r, account_id, "details")
        cash = {"checking": "CACC", "savings": "SVGS", "credit_card": "CARD"}.get(account.kind, "OTHR")
        return JSONResponse({"account": {
            "resourceId": "RES-" + account.key, "iban": account.iban, "currency": account.currency,
            "ownerName": "Alex Example", "name": account.name, "product": account.name,
            "cashAccountType": cash}}, headers=headers)

    @app.get(f"{_API}/accounts/{{account_id}}/balances/")
    async def balances(account_id: str, request: Request) -> Response:
        r, account = state.account(who(request), account_id)
        headers = state.check_access(r, account_id, "balances")
        now = state.clock.now()
        booked, available = state.ledger.balance(account.key, now=now)
        day = now.date().isoformat()
        return JSONResponse({"balances": [
            {"balanceAmount": {"amount": str(booked), "currency": account.currency},
             "balanceType": "closingBooked", "referenceDate": day},
            {"balanceAmount": {"amount": str(available), "currency": account.currency},
             "balanceType": "interimAvailable", "referenceDate": day,
             "lastChangeDateTime": _iso(now)}]}, headers=headers)

    @app.get(f"{_API}/accounts/{{account_id}}/transactions/")
    async def transactions(account_id: str, request: Request) -> Response:
        r, account = state.account(who(request), account_id)
        date_from = _date(request.query_params.get("date_from"), "date_from")
        date_to = _date(request.query_params.get("date_to"), "date_to")
        headers = state.check_access(r, account_id, "transactions")
        now = state.clock.now()
        booked: list[dict[str, Any]] = []
        pending: list[dict[str, Any]] = []
        for txn in reversed(state.ledger.transactions(account.key, now=now)):  # newest first
            is_pending = txn.is_pending(now)
            day = (txn.transacted_at if is_pending else txn.posted_at).date()
            if (date_from and day < date_from) or (date_to and day > date_to):
                continue
            (pending if is_pending else booked).append(state.transaction(txn, now, account.currency))
        return JSONResponse({"transactions": {"booked": booked, "pending": pending},
                             "last_updated": _iso(now)}, headers=headers)

    return app


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise GcError(400, "", "", body={name: {"summary": "Invalid date format",
                                                "detail": "Date must be in YYYY-MM-DD format"},
                                         "status_code": 400}) from None
