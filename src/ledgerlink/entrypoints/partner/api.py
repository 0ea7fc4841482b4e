"""The partner API: differentially private aggregates (never a person's data), and a bank's
signed messages to its own customers' threads (docs/bank-dialogue.md).

Authenticated with `Authorization: Bearer <partner API key>` (issued by
`ledgerlink partners api-key SLUG`). Errors are RFC 9457 problems (see problems.py).
Throttled (ADR 0019): failed authentications per client address, checked before the key is
looked up (key guessing); then `throttle.PARTNER_API` per authenticated partner.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from ledgerlink.domain.errors import DomainError, Unauthorized
from ledgerlink.domain.money import Money
from ledgerlink.entrypoints.dependencies import client_address, get_deps
from ledgerlink.entrypoints.problems import PROBLEM_SCHEMA, problem_body
from ledgerlink.entrypoints.throttling import rate_limited
from ledgerlink.services.dialogue import bank_dialogue
from ledgerlink.services.dialogue.ports import BankSignatureInvalid
from ledgerlink.services.kernel import idempotency, throttle
from ledgerlink.services.kernel.ports import PartnerRecord
from ledgerlink.services.privacy import aggregates

router = APIRouter(prefix="/partner-api/v1", tags=["partner-api"])

_bearer = HTTPBearer(auto_error=False, description="the partner API key")
_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: PROBLEM_SCHEMA,  # a body that is not even JSON (`malformed_body`; found by schemathesis)
    401: PROBLEM_SCHEMA,
    403: PROBLEM_SCHEMA,
    422: PROBLEM_SCHEMA,
    429: PROBLEM_SCHEMA,
    503: PROBLEM_SCHEMA,
}


async def _authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> PartnerRecord:
    """The key's partner. An address with too many recent failures waits (429) before its key
    is even looked up; each failure (missing, malformed or unknown key) counts against it."""
    deps, address = get_deps(request), client_address(request)
    await throttle.check(deps.limiter, throttle.PARTNER_AUTH_ADDRESS, address, count=False)
    try:
        key = None if credentials is None else credentials.credentials
        partner = await aggregates.authenticate(deps, key)
    except Unauthorized:
        if deps.limiter is not None:
            await deps.limiter.hit(throttle.PARTNER_AUTH_ADDRESS, address)
        raise
    request.state.partner_id = partner.id
    return partner


def _partner_id(request: Request) -> str:
    partner_id: str = request.state.partner_id  # set by `_authenticated`, solved first
    return partner_id


async def _partner(
    partner: Annotated[PartnerRecord, Depends(_authenticated)],
    _: Annotated[None, Depends(rate_limited(throttle.PARTNER_API, key=_partner_id))],
) -> PartnerRecord:
    return partner


Partner = Annotated[PartnerRecord, Depends(_partner)]


class SpendingByCategoryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The constraints are documented (`json_schema_extra`, found by schemathesis) but checked by
    # `aggregates.build_query`, so a refusal keeps its specific code (`month_invalid`, ...).
    month: str = Field(description="calendar month, YYYY-MM", examples=["2026-11"],
                       json_schema_extra={"pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])$"})
    epsilon: float = Field(
        description="privacy loss to spend on this query (> 0, at most the per-query cap)",
        json_schema_extra={"exclusiveMinimum": 0,
                           "maximum": aggregates.DEFAULT_POLICY.max_epsilon_per_query},
    )
    currency: str | None = Field(default=None, description="ISO 4217; default: the server's",
                                 json_schema_extra={"pattern": "^[A-Za-z]{3}$"})
    max_spend_per_category: Decimal | None = Field(
        default=None, description="narrower clamp per person and category (major units)"
    )
    max_categories: int | None = Field(default=None, description="narrower number of categories per person",
                                       json_schema_extra={"minimum": 1})


class CategoryTotal(BaseModel):
    category: str
    total: str = Field(description="noisy total spend, decimal string, >= 0")
    count: int = Field(description="noisy number of people who spent in this category, >= 0")


class Budget(BaseModel):
    period: str
    period_key: str
    epsilon_limit: float
    epsilon_spent: float
    epsilon_remaining: float
    resets_at: datetime


class Bounds(BaseModel):
    max_spend_per_category: str
    max_categories: int


class Noise(BaseModel):
    total_scale: str = Field(description="Laplace scale b of each total (std. dev. = b * sqrt(2))")
    count_scale: float


class SpendingByCategoryResponse(BaseModel):
    query: str = "spending_by_category"
    month: str
    currency: str
    dimensions: list[str]
    categories: list[CategoryTotal]
    epsilon_spent: float
    budget: Budget
    bounds: Bounds
    noise: Noise
    mechanism: str
    note: str


def _budget(status: aggregates.BudgetStatus) -> Budget:
    m = aggregates.MICRO
    return Budget(
        period=status.period,
        period_key=status.period_key,
        epsilon_limit=status.limit_micro / m,
        epsilon_spent=status.spent_micro / m,
        epsilon_remaining=status.remaining_micro / m,
        resets_at=status.resets_at,
    )


@router.post(
    "/aggregates/spending-by-category",
    response_model=SpendingByCategoryResponse,
    responses={**_PROBLEMS, 409: PROBLEM_SCHEMA},
)
async def spending_by_category(
    request: Request,
    partner: Partner,
    body: SpendingByCategoryRequest,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="retry safely: the same key and body get the stored answer, with no "
            "second spend of budget; the same key with another body gets 422"
        ),
    ] = None,
) -> Response:
    """Noisy spending totals and noisy counts of people per category for one month, over the
    people who linked this partner. Spends `epsilon` from the partner's budget for the
    current period; refused (429 `privacy_budget_exhausted`) before any data is read when
    the budget would be exceeded."""
    deps = get_deps(request)
    if idempotency_key is None:
        return JSONResponse((await _spending(request, partner, body)).model_dump(mode="json"))
    fingerprint = idempotency.request_hash(request.method, request.url.path, await request.body())
    stored = await idempotency.begin(
        deps, partner_id=partner.id, key=idempotency_key, fingerprint=fingerprint
    )
    if stored is not None:
        return Response(
            stored.response or "",
            status_code=stored.status,
            headers={"idempotent-replayed": "true"},
            media_type="application/problem+json" if stored.status >= 400 else "application/json",
        )
    try:
        result = await _spending(request, partner, body)
    except DomainError as exc:
        if exc.status < 500:  # a refusal is an answer too: the retry gets the same one
            await idempotency.finish(
                deps,
                partner_id=partner.id,
                key=idempotency_key,
                status=exc.status,
                response=problem_body(exc.status, exc.code, exc.detail).decode(),
            )
        else:
            await idempotency.abandon(deps, partner_id=partner.id, key=idempotency_key)
        raise
    except BaseException:
        await idempotency.abandon(deps, partner_id=partner.id, key=idempotency_key)
        raise
    payload = result.model_dump_json()
    await idempotency.finish(deps, partner_id=partner.id, key=idempotency_key, status=200, response=payload)
    return Response(payload, media_type="application/json")


async def _spending(
    request: Request, partner: PartnerRecord, body: SpendingByCategoryRequest
) -> SpendingByCategoryResponse:
    deps = get_deps(request)
    query = aggregates.build_query(
        month=body.month,
        epsilon=body.epsilon,
        now=deps.clock.now(),
        currency=body.currency,
        max_spend_per_category=body.max_spend_per_category,
        max_categories=body.max_categories,
    )
    result = await aggregates.spending_by_category(deps, partner, query)
    bounds = query.bounds
    return SpendingByCategoryResponse(
        month=query.month_key,
        currency=query.currency,
        dimensions=list(query.dimensions),
        categories=[
            CategoryTotal(category=c.key, total=str(c.total.amount), count=c.count) for c in result.cells
        ],
        epsilon_spent=query.epsilon_micro / aggregates.MICRO,
        budget=_budget(result.budget),
        bounds=Bounds(
            max_spend_per_category=str(Money.from_minor(bounds.max_per_cell, query.currency).amount),
            max_categories=bounds.max_cells,
        ),
        noise=Noise(total_scale=str(result.sum_noise_scale.amount), count_scale=result.count_noise_scale),
        mechanism=result.mechanism,
        note=(
            "Differentially private: every figure carries random noise, small categories may read 0, "
            "and totals and counts need not agree. Each person counts at most once per category "
            "and in at most max_categories categories, with spend clamped to max_spend_per_category."
        ),
    )


@router.get("/privacy-budget", responses=_PROBLEMS)
async def privacy_budget(request: Request, partner: Partner) -> Budget:
    """The partner's privacy budget for the current period: limit, spent, remaining."""
    return _budget(await aggregates.budget_status(get_deps(request), partner))


# --------------------------------------------------------------------------- bank dialogue

MAX_MESSAGE_BODY = 64 * 1024


class MessageAccepted(BaseModel):
    message_id: str = Field(description="the platform's id of the message in the customer's thread")
    duplicate: bool = Field(default=False, description="true when this jti was posted before")


@router.post(
    "/messages",
    status_code=201,
    response_model=MessageAccepted,
    responses={**_PROBLEMS, 200: {"model": MessageAccepted, "description": "the same jti again"},
               404: PROBLEM_SCHEMA, 410: PROBLEM_SCHEMA, 413: PROBLEM_SCHEMA, 415: PROBLEM_SCHEMA},
    openapi_extra={"requestBody": {"required": True, "content": {"application/jose": {
        "schema": {"type": "string", "description": "compact JWS, typ bank-message+jwt"}
    }}}},
)
async def post_message(request: Request, partner: Partner) -> Response:
    """A bank's message to its customer's thread (customer service, a fraud outcome, a notice):
    a compact JWS signed with the bank's registered key. Stored once per `jti`; nothing is
    stored unless the signature, issuer, audience and lifetime verify."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/jose":
        raise UnsupportedMediaType("send the message as a compact JWS with Content-Type: application/jose")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_MESSAGE_BODY:
            raise PayloadTooLarge(f"the message is larger than {MAX_MESSAGE_BODY // 1024} KiB")
    try:
        token = body.decode("ascii")
    except UnicodeDecodeError:
        raise BankSignatureInvalid("the bank message is not verifiable: the body is no compact JWS") from None
    message_id, duplicate = await bank_dialogue.receive_bank_message(get_deps(request), partner, token)
    return JSONResponse(MessageAccepted(message_id=message_id, duplicate=duplicate).model_dump(),
                        status_code=200 if duplicate else 201)


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    status = 415


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    status = 413
