"""`ledgerlink receipt verify` checks a shop link's consent receipt as it does a bank one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from ledgerlink.adapters.crypto.jws import JoseReceiptSigner
from ledgerlink.adapters.crypto.signing import SigningKeys
from ledgerlink.entrypoints.cli import app as cli
from ledgerlink.services.receipts.merchant_link import receipt_claims
from ledgerlink.services.receipts.merchant_link_ports import MerchantConsentRecord

runner = CliRunner()


def _claims(expires: datetime) -> dict[str, object]:
    fields = {name: None for name in MerchantConsentRecord.__dataclass_fields__}
    fields.update(
        id="mcn_1", person_id="per_1", merchant_slug="acme", scopes="orders shipments", expires_at=expires
    )
    consent = MerchantConsentRecord(**fields)  # type: ignore[arg-type]
    return receipt_claims(
        receipt_id="mrc_1",
        issuer="https://ledgerlink.example",
        consent=consent,
        shop="Acme Outfitters",
        issued_at=expires - timedelta(days=90),
    )


def _files(tmp_path: Path, expires: datetime) -> tuple[Path, Path]:
    keys = SigningKeys(tmp_path / "signing.key")
    receipt = tmp_path / "receipt.jws"
    receipt.write_text(JoseReceiptSigner(keys).sign(_claims(expires)))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keys.jwks()))
    return receipt, jwks


def test_a_shop_receipt_verifies_and_says_what_the_shop_shares(tmp_path: Path) -> None:
    receipt, jwks = _files(tmp_path, datetime(2099, 1, 1, tzinfo=UTC))
    ok = runner.invoke(cli, ["receipt", "verify", str(receipt), "--jwks", str(jwks), "--person", "per_1"])
    assert ok.exit_code == 0, ok.output
    assert "Acme Outfitters (acme)" in ok.output
    assert "orders, shipments" in ok.output
    assert "advertising, profiling, sale" in ok.output
    assert "Valid:" in ok.output

    other = runner.invoke(cli, ["receipt", "verify", str(receipt), "--jwks", str(jwks), "--person", "per_2"])
    assert other.exit_code == 1 and "not_yours" in other.output

    header, payload, signature = receipt.read_text().split(".")
    tampered = tmp_path / "tampered.jws"
    # One character in the middle changed (the last ones may carry padding bits only, or be "AA" already).
    flipped = "B" if signature[10] == "A" else "A"
    tampered.write_text(f"{header}.{payload}.{signature[:10]}{flipped}{signature[11:]}")
    bad = runner.invoke(cli, ["receipt", "verify", str(tampered), "--jwks", str(jwks)])
    assert bad.exit_code == 1 and "receipt_bad_signature" in bad.output


def test_an_expired_shop_receipt_is_shown_and_refused(tmp_path: Path) -> None:
    receipt, jwks = _files(tmp_path, datetime(2020, 1, 1, tzinfo=UTC))
    result = runner.invoke(cli, ["receipt", "verify", str(receipt), "--jwks", str(jwks)])
    assert result.exit_code == 1
    assert "receipt_expired" in result.output and "Acme Outfitters" in result.output
    assert "shop link this receipt records expired on 2020-01-01" in result.output


def test_a_shop_receipt_without_its_shop_is_unreadable_not_valid(tmp_path: Path) -> None:
    keys = SigningKeys(tmp_path / "signing.key")
    claims = _claims(datetime(2099, 1, 1, tzinfo=UTC))
    del claims["merchant"]
    receipt = tmp_path / "receipt.jws"
    receipt.write_text(JoseReceiptSigner(keys).sign(claims))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keys.jwks()))
    result = runner.invoke(cli, ["receipt", "verify", str(receipt), "--jwks", str(jwks)])
    assert result.exit_code == 2
    assert "receipt_malformed" in result.output and "'merchant'" in result.output
    assert "Valid:" not in result.output
