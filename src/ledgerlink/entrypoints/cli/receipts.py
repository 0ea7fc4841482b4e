"""`ledgerlink receipt verify`: check a consent receipt offline, with the published key set:
a bank link's (`/receipts/{id}.jws`) or a shop link's (`/link/shop/{id}/receipt.jws`).

Exit status: 0 valid; 1 bad signature, unknown key, expired, or (with --person) someone
else's; 2 unreadable input (the file, the key set, or not a receipt at all).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer

from ledgerlink.adapters.crypto.jws import unverified_claims, verify_receipt
from ledgerlink.domain.clock import SystemClock
from ledgerlink.services.linking.consent_receipts import (
    Receipt,
    ReceiptExpired,
    ReceiptInvalid,
    ReceiptMalformed,
    describe,
    verify_claims,
)
from ledgerlink.services.receipts.shop_receipt import (
    ShopReceipt,
    describe_shop,
    is_shop_receipt,
    verify_shop_claims,
)

app = typer.Typer(no_args_is_help=True)

JWKS_PATH = "/.well-known/jwks.json"


@app.callback()
def receipt() -> None:
    """Verify consent receipts offline."""


def _fail(code: str, message: str, status: int) -> NoReturn:
    typer.echo(f"error ({code}): {message}", err=True)
    raise typer.Exit(status)


def _read_receipt(source: str) -> str:
    try:
        raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail("unreadable_receipt", f"cannot read {source}: {getattr(exc, 'strerror', None) or exc}", 2)
    token = raw.strip()
    if not token:
        _fail("unreadable_receipt", f"{source} is empty", 2)
    return token


def _issuer_jwks_url(token: str) -> str:
    try:
        issuer = unverified_claims(token).get("iss")
    except ReceiptMalformed as exc:
        _fail(exc.code, exc.detail, 2)
    if not isinstance(issuer, str) or not issuer.startswith(("https://", "http://")):
        _fail("no_issuer", "the receipt names no issuer URL; pass the key set with --jwks", 2)
    return issuer.rstrip("/") + JWKS_PATH


def _load_jwks(source: str) -> dict[str, Any]:
    try:
        if source.startswith(("https://", "http://")):
            response = httpx.get(source, timeout=10.0)
            response.raise_for_status()
            data = response.json()
        else:
            data = json.loads(Path(source).read_text(encoding="utf-8"))
    except httpx.HTTPError as exc:
        _fail("unreadable_jwks", f"cannot fetch the key set from {source} ({type(exc).__name__})", 2)
    except (OSError, UnicodeDecodeError) as exc:
        _fail("unreadable_jwks", f"cannot read {source}: {getattr(exc, 'strerror', None) or exc}", 2)
    except ValueError:
        _fail("unreadable_jwks", f"{source} is not JSON", 2)
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        _fail("unreadable_jwks", f"{source} is not a JWK set (no 'keys' list)", 2)
    return data


def _read_claims(claims: dict[str, Any], person: str | None) -> Receipt | ShopReceipt:
    """A bank link's receipt or a shop link's (`kind: merchant_link`), by what it says it is."""
    if is_shop_receipt(claims):
        return verify_shop_claims(claims, person_id=person)
    return verify_claims(claims, person_id=person)


def _print(receipt: Receipt | ShopReceipt) -> None:
    rows = describe_shop(receipt) if isinstance(receipt, ShopReceipt) else describe(receipt)
    width = max(len(label) for label, _ in rows) + 2
    for label, text in rows:
        first, *more = text.split("; ")  # lists (accounts, purposes): one item per line
        typer.echo(f"{label + ':':<{width}}{first}")
        for item in more:
            typer.echo(f"{'':<{width}}{item}")


@app.command("verify")
def verify(
    file: Annotated[str, typer.Argument(help="the receipt file (.jws), or - for standard input")],
    jwks: Annotated[
        str | None,
        typer.Option(
            "--jwks",
            help="the platform's key set, a file or an http(s) URL "
            "(default: the issuer's /.well-known/jwks.json, as named in the receipt)",
        ),
    ] = None,
    person: Annotated[
        str | None, typer.Option("--person", help="fail unless the receipt was issued to this person id")
    ] = None,
) -> None:
    """Check a consent receipt's signature, key and expiry, and print what it says."""
    token = _read_receipt(file)
    source = jwks
    if source is None:
        source = _issuer_jwks_url(token)
        typer.echo(f"Key set: {source} (named by the receipt itself; pass --jwks to pin it)")
    keys = _load_jwks(source)
    try:
        claims = verify_receipt(token, keys, now=SystemClock().now())
        result = _read_claims(claims, person)
    except ReceiptExpired as exc:
        try:
            expired = _read_claims(exc.claims, person)
        except ReceiptInvalid as inner:
            _fail(inner.code, inner.detail, 2 if isinstance(inner, ReceiptMalformed) else 1)
        _print(expired)
        what = "shop link" if isinstance(expired, ShopReceipt) else "consent"
        _fail(
            exc.code,
            f"the {what} this receipt records expired on {expired.expires_at:%Y-%m-%d %H:%M} UTC "
            "(the signature itself is good)",
            1,
        )
    except ReceiptMalformed as exc:
        _fail(exc.code, exc.detail, 2)
    except ReceiptInvalid as exc:
        _fail(exc.code, exc.detail, 1)
    _print(result)
    typer.echo(f"Valid: the signature matches a key in {source}, and the consent has not expired.")
