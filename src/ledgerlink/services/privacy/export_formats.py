"""The person's export as files: CSV of transactions, and an OFX 2 statement per account.

Both take the JSON-ready data of `ledgerlink.services.privacy.rights` (money as decimal strings), so
every format says exactly the same thing. OFX is built with `ofxtools` models (section 11 of
the OFX 2.2 spec); the bank's transaction id is the FITID, so importing twice adds nothing.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ofxtools.header import make_header
from ofxtools.models import (
    AVAILBAL,
    BANKACCTFROM,
    BANKMSGSRSV1,
    BANKTRANLIST,
    CCACCTFROM,
    CCSTMTRS,
    CCSTMTTRNRS,
    CREDITCARDMSGSRSV1,
    FI,
    LEDGERBAL,
    SIGNONMSGSRSV1,
    SONRS,
    STATUS,
    STMTRS,
    STMTTRN,
    STMTTRNRS,
)
from ofxtools.models.ofx import OFX

__all__ = ["CSV_COLUMNS", "account_ofx", "transactions_csv"]

CSV_COLUMNS = (
    "transaction_id", "account_id", "account", "bank", "bank_transaction_id", "status",
    "booking_date", "value_date", "amount", "currency", "merchant", "descriptor", "category",
    "mcc", "created_at", "updated_at", "status_history",
)  # fmt: skip

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object, *, text: bool = False) -> str:
    if value is None:
        return ""
    out = str(value)
    if text and out.startswith(_FORMULA_START):
        return "'" + out
    return out


def transactions_csv(export: dict[str, Any]) -> str:
    """One row per transaction (pending, posted and cancelled), oldest first."""
    accounts = {a["id"]: a for a in export["accounts"]}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for t in export["transactions"]:
        account = accounts.get(t["account_id"], {})
        label = f"{account.get('name', '')} ••{account.get('last4', '')}"
        writer.writerow([
            t["id"], t["account_id"], _cell(label, text=True), _cell(account.get("bank"), text=True),
            _cell(t["bank_transaction_id"], text=True), t["status"], _cell(t["booking_date"]),
            _cell(t["value_date"]), t["amount"], t["currency"], _cell(t["merchant"], text=True),
            _cell(t["descriptor"], text=True), t["category"], _cell(t["mcc"]), t["created_at"],
            t["updated_at"], _cell(" | ".join(t["status_history"]), text=True),
        ])  # fmt: skip
    return buf.getvalue()


# ---------------------------------------------------------------------------- OFX

_BANK_ACCTTYPES = {"checking": "CHECKING", "savings": "SAVINGS", "loan": "CREDITLINE"}


def _midday(value: str | None, fallback: datetime) -> datetime:
    """A booking date as an OFX instant: noon UTC, so no time zone moves it to another day."""
    if not value:
        return fallback
    return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC).replace(hour=12)


def _acctid(account: dict[str, Any]) -> str:
    """OFX allows 22 characters: the last four digits the person recognises, then our opaque
    id (never the full account number, which the platform does not have)."""
    return f"{account['last4']}-{account['id'].split('_', 1)[-1][:17]}"


def account_ofx(export: dict[str, Any]) -> bytes:
    """An OFX 2.2 statement (XML) of one account from `rights.export_account`: its posted
    transactions (a pending one has no posting date yet) and the latest balance."""
    account = export["account"]
    bank = export["bank"]
    now = datetime.fromisoformat(export["exported_at"]).astimezone(UTC)
    posted = [t for t in export["transactions"] if t["status"] == "posted"]
    stmttrns = [
        STMTTRN(
            trntype="DEBIT" if Decimal(t["amount"]) < 0 else "CREDIT",
            dtposted=_midday(t["booking_date"], now),
            dtavail=_midday(t["value_date"], now) if t["value_date"] else None,
            trnamt=Decimal(t["amount"]),
            fitid=t["bank_transaction_id"][:255],
            name=(t["merchant"] or t["descriptor"] or "")[:32] or None,
            memo=(t["descriptor"] or "")[:255] or None,
            sic=int(t["mcc"]) if t["mcc"] and t["mcc"].isdigit() else None,
        )
        for t in posted
    ]
    dates = [s.dtposted for s in stmttrns]
    tranlist = BANKTRANLIST(*stmttrns, dtstart=min(dates, default=now), dtend=max(dates, default=now))
    balance = account["balance"]
    if balance is not None:
        as_of = datetime.fromisoformat(balance["as_of"]).astimezone(UTC)
        ledgerbal = LEDGERBAL(balamt=Decimal(balance["current"]), dtasof=as_of)
        availbal = (None if balance["available"] is None
                    else AVAILBAL(balamt=Decimal(balance["available"]), dtasof=as_of))
    else:  # OFX requires a ledger balance; none was shared (no `balances` scope)
        ledgerbal, availbal = LEDGERBAL(balamt=Decimal(0), dtasof=now), None
    status = STATUS(code=0, severity="INFO")
    trnuid = account["id"].split("_", 1)[-1][:36]
    if account["type"] == "credit_card":
        cc = CCSTMTRS(curdef=account["currency"], ccacctfrom=CCACCTFROM(acctid=_acctid(account)),
                      banktranlist=tranlist, ledgerbal=ledgerbal, availbal=availbal)
        msgs: dict[str, Any] = {"creditcardmsgsrsv1": CREDITCARDMSGSRSV1(
            CCSTMTTRNRS(trnuid=trnuid, status=status, ccstmtrs=cc))}
    else:
        acctfrom = BANKACCTFROM(bankid=bank["slug"][:9], acctid=_acctid(account),
                                accttype=_BANK_ACCTTYPES.get(account["type"], "CHECKING"))
        stmtrs = STMTRS(curdef=account["currency"], bankacctfrom=acctfrom, banktranlist=tranlist,
                        ledgerbal=ledgerbal, availbal=availbal)
        msgs = {"bankmsgsrsv1": BANKMSGSRSV1(STMTTRNRS(trnuid=trnuid, status=status, stmtrs=stmtrs))}
    sonrs = SONRS(status=status, dtserver=now, language="ENG",
                  fi=FI(org=bank["name"][:32], fid=bank["slug"][:32]))
    ofx = OFX(signonmsgsrsv1=SIGNONMSGSRSV1(sonrs=sonrs), **msgs)
    body = ET.tostring(ofx.to_etree(), encoding="unicode")
    return (str(make_header(version=220)) + body).encode("utf-8")
