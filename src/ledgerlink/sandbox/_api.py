"""The data API (bearer token), the OAuth token/revoke endpoints, and the admin simulate hooks."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from ledgerlink.sandbox._model import Consent, Problem
from ledgerlink.sandbox._oauth import SCOPES, HttpRequest, HttpResponse, SandboxAuthServer
from ledgerlink.sandbox.bank import SandboxBank, to_amount
from ledgerlink.sandbox.simulator import Activity


class SyncBody(BaseModel):
    account_id: str
    cursor: str | None = None
    count: int = Field(default=100, ge=1, le=500)


class SubscriptionBody(BaseModel):
    url: str = Field(min_length=8, max_length=2048, pattern=r"^https?://")


class SimulateBody(BaseModel):
    login: str | None = None
    account_id: str | None = None
    transaction_id: str | None = None
    merchant: str | None = None
    amount: str | None = Field(default=None, pattern=r"^-?\d+(\.\d{1,2})?$")
    final_amount: str | None = Field(default=None, pattern=r"^-?\d+(\.\d{1,2})?$")
    description: str | None = Field(default=None, max_length=120)


class CardPaymentBody(BaseModel):  # a shop's checkout, by card number (the sandbox shop)
    card_number: str = Field(min_length=1, max_length=40)
    exp_month: int = Field(ge=0, le=99)
    exp_year: int = Field(ge=0, le=9999)
    cvc: str = Field(max_length=8)
    merchant: str = Field(min_length=1, max_length=80)
    amount: str = Field(pattern=r"^\d+(\.\d{1,2})?$")


class DeclineBody(BaseModel):  # declined cards (message templates)
    login: str
    account_id: str | None = None
    merchant: str | None = None
    amount: str | None = Field(default=None, pattern=r"^\d+(\.\d{1,2})?$")
    reason: str = Field(default="insufficient_funds", pattern=r"^[a-z_]{1,40}$")


Auth = Annotated[str | None, Header()]


def bearer_consent(srv: SandboxAuthServer, authorization: str | None,
                   scope: str | None = None) -> Consent:
    """The consent of the request's access token (401/403 problems with stable codes)."""
    raw = None
    if authorization and authorization[:7].lower() == "bearer ":
        raw = authorization[7:].strip()
    _, consent = srv.authenticate_bearer(raw)
    if scope is not None and scope not in consent.scopes:
        raise Problem(403, "insufficient_scope", f"this consent does not grant '{scope}'")
    return consent


def check_admin(bank: SandboxBank, authorization: str | None) -> None:
    expected = f"Bearer {bank.config.admin_token}".encode()
    if not authorization or not hmac.compare_digest(authorization.encode(), expected):
        raise Problem(401, "admin_token_invalid", "send 'Authorization: Bearer <admin token>'")


def _json(resp: HttpResponse) -> Response:
    return JSONResponse(resp.body, status_code=resp.status, headers=dict(resp.headers))


def router(bank: SandboxBank) -> APIRouter:
    r = APIRouter()
    srv = bank.auth
    base = bank.config.public_url.rstrip("/")

    async def oauth_form(request: Request) -> HttpRequest:
        form = await request.form()
        pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        return HttpRequest(request.method, str(request.url), request.headers, [], pairs)

    @r.get("/.well-known/oauth-authorization-server", tags=["oauth"])
    async def metadata() -> dict[str, Any]:
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic",
                                                           "client_secret_post"],
        }

    @r.post("/oauth/token", tags=["oauth"])
    async def token(request: Request) -> Response:
        return _json(srv.create_token_response(await oauth_form(request)))

    @r.post("/oauth/revoke", tags=["oauth"])
    async def revoke(request: Request) -> Response:
        return _json(srv.create_endpoint_response("revocation", await oauth_form(request)))

    # ------------------------------------------------------------------ data API

    def consent_for(authorization: str | None, scope: str | None = None) -> Consent:
        return bearer_consent(srv, authorization, scope)

    def account_in(consent: Consent, account_id: str) -> None:
        if account_id not in consent.account_ids:
            raise Problem(404, "account_not_found", "no such account in this consent")

    @r.get("/open-banking/v1/accounts", tags=["data"])
    async def accounts(authorization: Auth = None) -> dict[str, Any]:
        consent = consent_for(authorization)
        return {"accounts": [bank.ledger.accounts[a].wire() for a in consent.account_ids]}

    @r.get("/open-banking/v1/accounts/{account_id}/balances", tags=["data"])
    async def balances(account_id: str, authorization: Auth = None) -> dict[str, Any]:
        consent = consent_for(authorization, "balances")
        account_in(consent, account_id)
        return bank.ledger.balance(account_id, now=bank.clock.now())

    @r.post("/open-banking/v1/transactions/sync", tags=["data"])
    async def sync(body: SyncBody, authorization: Auth = None) -> dict[str, Any]:
        consent = consent_for(authorization, "transactions")
        account_in(consent, body.account_id)
        return bank.ledger.sync(body.account_id, body.cursor, body.count)

    @r.post("/open-banking/v1/event-subscriptions", status_code=201, tags=["data"])
    async def subscribe(body: SubscriptionBody, authorization: Auth = None) -> dict[str, Any]:
        consent = consent_for(authorization)
        sub = bank.subscribe(consent, body.url)
        return {"subscription_id": sub.subscription_id, "url": sub.url}

    @r.delete("/open-banking/v1/event-subscriptions/{subscription_id}", status_code=204,
              tags=["data"])
    async def unsubscribe(subscription_id: str, authorization: Auth = None) -> Response:
        bank.unsubscribe(consent_for(authorization), subscription_id)
        return Response(status_code=204)

    # ------------------------------------------------------------------ admin hooks

    def require_admin(authorization: str | None) -> None:
        check_admin(bank, authorization)

    @r.post("/sandbox/consents/{consent_id}/revoke", status_code=204, tags=["sandbox"])
    async def admin_revoke(consent_id: str, authorization: Auth = None) -> Response:
        require_admin(authorization)
        await bank.revoke_consent(consent_id)
        return Response(status_code=204)

    @r.post("/sandbox/card-payments", status_code=201, tags=["sandbox"])
    async def card_payment(body: CardPaymentBody, authorization: Auth = None) -> dict[str, Any]:
        """A shop authorising a purchase by card number, expiry and CVC: the pending charge's id
        and the card's last 4 (the number is never repeated, in an answer or an error)."""
        require_admin(authorization)
        txn_id, last4 = await bank.card_purchase(pan=body.card_number, exp_month=body.exp_month,
                                                 exp_year=body.exp_year, cvc=body.cvc, merchant=body.merchant,
                                                 amount=body.amount)
        return {"transaction_id": txn_id, "last4": last4}

    # Declined cards and broken refresh tokens (message templates); before /simulate/{kind}.
    @r.post("/sandbox/simulate/decline", status_code=201, tags=["sandbox"])
    async def simulate_decline(body: DeclineBody, authorization: Auth = None) -> dict[str, Any]:
        require_admin(authorization)
        decline_id = await bank.decline(body.login, account_id=body.account_id,
                                        merchant=body.merchant, amount=body.amount,
                                        reason=body.reason)
        return {"decline_id": decline_id, "decline": bank.ledger.declines[decline_id].wire()}

    @r.post("/sandbox/consents/{consent_id}/invalidate-refresh-tokens", status_code=204,
            tags=["sandbox"])
    async def admin_invalidate(consent_id: str, authorization: Auth = None) -> Response:
        require_admin(authorization)
        bank.invalidate_refresh_tokens(consent_id)
        return Response(status_code=204)

    @r.post("/sandbox/simulate/{kind}", status_code=201, tags=["sandbox"])
    async def simulate(kind: str, body: Annotated[SimulateBody, Body()],
                       authorization: Auth = None) -> dict[str, Any]:
        require_admin(authorization)
        if kind not in ("purchase", "post", "adjust", "void", "deposit", "fee", "refund"):
            raise Problem(404, "unknown_activity", f"no activity {kind!r}")
        if kind in ("purchase", "deposit", "fee") and not body.login:
            raise Problem(422, "login_required", "give the customer's login")
        if kind not in ("purchase", "deposit", "fee") and not body.transaction_id:
            raise Problem(422, "transaction_id_required", "give a transaction_id")
        amount = body.final_amount if kind == "post" and body.final_amount else body.amount
        txn_id = bank.apply(Activity(kind, login=body.login, account_id=body.account_id,
                                     transaction_id=body.transaction_id, merchant=body.merchant,
                                     amount=to_amount(amount), description=body.description))
        return {"transaction_id": txn_id, "transaction": bank.transaction(txn_id)}

    return r
