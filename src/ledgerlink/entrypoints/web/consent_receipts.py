"""Consent receipts for their owner: the readable page and the signed file (`application/jose`).

Someone else's receipt answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from babel.dates import format_date
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ledgerlink.domain.errors import NotFound
from ledgerlink.domain.privacy import PURPOSE_DESCRIPTIONS, Purpose, never_words, scope_words
from ledgerlink.entrypoints.dependencies import get_deps, signed_in
from ledgerlink.entrypoints.web.kit import not_found, page, see_other
from ledgerlink.services.linking import consent_receipts

__all__ = ["router"]

router = APIRouter(tags=["verification"])

JOSE_MEDIA_TYPE = "application/jose"


# Registered before `/receipts/{receipt_id}`, which would otherwise match "<id>.jws" too.
@router.get(
    "/receipts/{receipt_id}.jws",
    response_class=Response,
    responses={  # documented for schemathesis (issue 14)
        200: {"description": "the receipt as a compact JWS",
              "content": {JOSE_MEDIA_TYPE: {"schema": {"type": "string"}}}},
        303: {"description": "not signed in: to the sign-in page"},
        404: {"description": "no receipt of yours has this id (an HTML page)",
              "content": {"text/html": {"schema": {"type": "string"}}}},
    },
)
async def download_receipt(request: Request, receipt_id: str) -> Response:
    """The signed receipt (compact JWS), for its owner only."""
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    try:
        view = await consent_receipts.read(
            get_deps(request), grant, receipt_id, purpose=Purpose.PERSON_EXPORT)
    except NotFound:
        return not_found(request, person)
    return Response(
        view.jws,
        media_type=JOSE_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="consent-receipt-{view.id}.jws"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


# --------------------------------------------------------------------------- the page, in words (issue 13)

_TYPES = {"checking": "Checking", "savings": "Savings", "credit_card": "Credit card", "loan": "Loan"}
PROBLEMS = {
    "receipt_bad_signature": "The signature does not match: the receipt was changed after it was signed, "
                             "or Ledgerlink did not sign it.",
    "receipt_unknown_key": "It was signed with a key this platform does not publish.",
    "receipt_malformed": "This is not a Ledgerlink consent receipt.",
    "receipt_expired": "Genuine, signed by Ledgerlink, but the consent it records has expired.",
    "receipt_not_yours": "It belongs to someone else.",
}
MAX_JWS = 16_384  # a receipt is about 1.5 kB; anything much larger is not one


def _day(at: datetime) -> str:
    return format_date(at.astimezone(UTC).date(), "d MMMM y", locale="en")


def _words(receipt: consent_receipts.Receipt, *, now: datetime) -> dict[str, Any]:
    """What the person agreed to, as people say it; the ids stay in `technical`."""
    known = {p.value: words for p, words in PURPOSE_DESCRIPTIONS.items()}
    left = (receipt.expires_at.date() - now.date()).days
    return {
        "bank": receipt.bank_name,
        "initial": receipt.bank_name[:1].upper(),
        "accounts": [(f"{receipt.bank_name} {a.name}", f"••{a.last4}", _TYPES.get(a.type, "Account"))
                     for a in receipt.accounts],
        "shared": [scope_words(s) for s in receipt.scopes],
        "purposes": [known.get(p, p.replace("_", " ")) for p in receipt.purposes_allowed],
        "never": [never_words(u) for u in receipt.uses_prohibited],
        "valid_until": _day(receipt.expires_at),
        "days_left": left,
        "issued": _day(receipt.issued_at),
        "technical": consent_receipts.describe(receipt),
    }


def _parts(view: consent_receipts.ReceiptCheck, *, now: datetime) -> dict[str, Any]:
    return {"words": None if view.receipt is None else _words(view.receipt, now=now),
            "valid": view.valid, "problem": view.problem,
            "problem_words": None if view.problem is None else PROBLEMS.get(view.problem, view.problem)}


# Registered before `/receipts/{receipt_id}`, which would otherwise match "verify".
@router.get("/receipts/verify", response_class=HTMLResponse, include_in_schema=False)
async def verify_page(request: Request) -> Response:
    """Anyone may check a receipt here (it is what `ledgerlink receipt verify` does, online)."""
    return page(request, "receipt_verify.html", result=None, error=None, jwks_url=_jwks_url(request))


@router.post("/receipts/verify", response_class=HTMLResponse, include_in_schema=False)
async def verify_receipt(request: Request) -> Response:
    """Verify a pasted or posted receipt against the published key set. It changes nothing, so
    it needs no session and no CSRF token; it says why a receipt does not verify."""
    form = await request.form()
    token = form.get("jws", "")
    token = token.strip() if isinstance(token, str) else ""
    error = None
    if not token:
        error = "Paste the receipt: the text of the .jws file you downloaded."
    elif len(token) > MAX_JWS:
        error = f"That is {len(token):,} characters; a consent receipt is far shorter (under {MAX_JWS:,})."
    if error is not None:
        return page(request, "receipt_verify.html", 422, result=None, error=error,
                    jwks_url=_jwks_url(request))
    deps = get_deps(request)
    try:
        checked = consent_receipts.check(deps, token)
    except consent_receipts.ReceiptInvalid as exc:  # e.g. expired, and its claims are malformed
        checked = consent_receipts.ReceiptCheck(None, False, exc.code)
    result = _parts(checked, now=deps.clock.now())
    return page(request, "receipt_verify.html", result=result, error=None, jwks_url=_jwks_url(request))


def _jwks_url(request: Request) -> str:
    return f"{get_deps(request).public_url.rstrip('/')}/.well-known/jwks.json"


@router.get("/receipts/{receipt_id}", response_class=HTMLResponse, include_in_schema=False)
async def receipt_page(request: Request, receipt_id: str) -> Response:
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    deps = get_deps(request)
    try:
        view = await consent_receipts.read(deps, grant, receipt_id, purpose=Purpose.SHOW_TO_PERSON)
    except NotFound:
        return not_found(request, person)
    checked = consent_receipts.check(deps, view.jws, person_id=grant.person_id)
    return page(
        request,
        "receipt.html",
        person=person,
        receipt_id=view.id,
        jws=view.jws,
        download=f"/receipts/{view.id}.jws",
        jwks_url=_jwks_url(request),
        **_parts(checked, now=deps.clock.now()),
    )
