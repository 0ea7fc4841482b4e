"""The bank side of docs/bank-dialogue.md over HTTP: the bank's JWKS, the signed answers to
fraud alerts, customer-service messages, and the admin hook that stages a fraud alert.

Requests from the platform carry the consent's access token and a compact JWS body signed
with a key the client publishes at its `jwks_uri`. Checks, in order: bearer token, media
type, Idempotency-Key, signature/typ/aud/time, `jti` == Idempotency-Key, `consent_id` ==
the token's consent. Then a `jti` seen before gets its stored answer and nothing else runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ledgerlink.sandbox._api import bearer_consent, check_admin
from ledgerlink.sandbox._model import Consent, Problem
from ledgerlink.sandbox.bank import SandboxBank, to_amount

MAX_BODY = 32 * 1024  # a request token is a few hundred bytes; text is at most 2000 characters
ANSWERS = ("confirmed", "denied")

Auth = Annotated[str | None, Header()]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


class FraudBody(BaseModel):
    login: str | None = None
    account_id: str | None = None
    transaction_id: str | None = None  # alert on this pending charge instead of a new one
    merchant: str | None = Field(default=None, max_length=80)
    amount: str | None = Field(default=None, pattern=r"^-?\d+(\.\d{1,2})?$")
    reason: str = Field(default="unusual merchant", min_length=1, max_length=200)
    remind_after_seconds: int | None = Field(default=None, ge=0, le=7 * 86400)  # None: 600
    expires_in_seconds: int = Field(default=3600, ge=1, le=7 * 86400)
    on_no_answer: Literal["freeze_card", "allow"] = "freeze_card"


@dataclass(frozen=True, slots=True)
class _Stored:
    endpoint: str
    consent_id: str
    status: int
    body: dict[str, Any]


def _invalid(detail: str, code: str = "invalid_request") -> Problem:
    return Problem(422, code, detail, title="Invalid request")


def _text_claim(claims: dict[str, Any], name: str, limit: int) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise _invalid(f"the token needs a '{name}' string of 1-{limit} characters")
    return value


def router(bank: SandboxBank) -> APIRouter:
    r = APIRouter()
    issuer = bank.config.public_url.rstrip("/")
    clients = {c.client_id: c for c in bank.config.clients}
    answered: dict[tuple[str, str], _Stored] = {}  # (client_id, jti) -> the answer given

    @r.get("/.well-known/jwks.json", tags=["keys"])
    async def jwks() -> JSONResponse:
        return JSONResponse(bank.jwks(), headers={"cache-control": "public, max-age=300"})

    async def signed(request: Request, authorization: str | None, idempotency_key: str | None,
                     endpoint: str) -> tuple[Consent, dict[str, Any], JSONResponse | None]:
        """The consent, the verified claims, and the stored response if this is a replay."""
        consent = bearer_consent(bank.auth, authorization)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/jose":
            raise Problem(415, "unsupported_media_type",
                          "send the signed request as 'Content-Type: application/jose'")
        if not idempotency_key or len(idempotency_key) > 200:
            raise _invalid("send the token's jti as 'Idempotency-Key' (1-200 characters)",
                           "idempotency_key_missing")
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise _invalid(f"the body is larger than {MAX_BODY} bytes")
        try:
            token = raw.decode("ascii")
        except UnicodeDecodeError:
            raise _invalid("the body is not a compact JWS (ASCII)") from None
        client = clients.get(consent.client_id)
        claims = await bank.platform_keys.verify(
            token, jwks_uri=client.jwks_uri if client else None, audience=issuer,
            now=bank.clock.now())
        if claims["jti"] != idempotency_key:
            raise _invalid("the Idempotency-Key header must equal the token's jti",
                           "idempotency_key_mismatch")
        if claims["consent_id"] != consent.consent_id:
            raise Problem(403, "consent_mismatch",
                          "the token's consent_id is not the consent of the access token")
        stored = answered.get((consent.client_id, claims["jti"]))
        if stored is None:
            return consent, claims, None
        if stored.endpoint != endpoint or stored.consent_id != consent.consent_id:
            raise Problem(409, "idempotency_key_reused",
                          "this jti was used for another request; sign a new one")
        return consent, claims, JSONResponse(stored.body, status_code=stored.status)

    def remember(consent: Consent, claims: dict[str, Any], endpoint: str, status: int,
                 body: dict[str, Any]) -> JSONResponse:
        answered[(consent.client_id, claims["jti"])] = _Stored(endpoint, consent.consent_id,
                                                               status, body)
        return JSONResponse(body, status_code=status)

    @r.post("/open-banking/v1/fraud-alerts/{alert_id}/answer", tags=["dialogue"])
    async def answer(alert_id: str, request: Request, authorization: Auth = None,
                     idempotency_key: IdempotencyKey = None) -> JSONResponse:
        consent, claims, replay = await signed(request, authorization, idempotency_key,
                                               f"answer:{alert_id}")
        if replay is not None:
            return replay
        if claims.get("alert_id") != alert_id:
            raise _invalid("the token's alert_id is not the alert of the URL",
                           "alert_id_mismatch")
        choice = claims.get("answer")
        if choice not in ANSWERS:
            raise _invalid("'answer' is 'confirmed' (it was me) or 'denied' (it was not me)",
                           "invalid_answer")
        body = bank.fraud.answer(consent, alert_id, choice)
        return remember(consent, claims, f"answer:{alert_id}", 200, body)

    @r.post("/open-banking/v1/service/messages", status_code=202, tags=["dialogue"])
    async def service_message(request: Request, authorization: Auth = None,
                              idempotency_key: IdempotencyKey = None) -> JSONResponse:
        consent, claims, replay = await signed(request, authorization, idempotency_key,
                                               "service")
        if replay is not None:
            return replay
        message_id = _text_claim(claims, "message_id", 200)
        text = _text_claim(claims, "text", 2000)
        bank.agent.receive(consent, message_id=message_id, text=text)
        return remember(consent, claims, "service", 202,
                        {"message_id": message_id, "status": "received"})

    @r.post("/sandbox/simulate/fraud", status_code=201, tags=["sandbox"])
    async def simulate_fraud(body: Annotated[FraudBody, Body()],
                             authorization: Auth = None) -> dict[str, Any]:
        check_admin(bank, authorization)
        options: dict[str, Any] = {
            "reason": body.reason,
            "remind_after_seconds": (body.remind_after_seconds if body.remind_after_seconds
                                     is not None else min(600, body.expires_in_seconds // 2)),
            "expires_in_seconds": body.expires_in_seconds, "on_no_answer": body.on_no_answer}
        if body.transaction_id is not None:
            txn_id = body.transaction_id
            alert_id = bank.raise_fraud_alert(txn_id, **options)
        elif body.login:
            txn_id, alert_id = await bank.suspicious_purchase(
                body.login, account_id=body.account_id, merchant=body.merchant,
                amount=to_amount(body.amount), **options)
        else:
            raise _invalid("give the customer's login (a new odd purchase) or a pending "
                           "transaction_id", "login_required")
        return {"transaction_id": txn_id, "alert_id": alert_id,
                "transaction": bank.transaction(txn_id), "alert": bank.fraud.alerts[alert_id].wire()}

    return r
