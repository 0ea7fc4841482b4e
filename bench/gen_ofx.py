"""A synthetic OFX 2.x statement of any size, for bench/imports.py, and the library-only baseline.

`ofx_file(n, seed)` writes one checking-account statement (OFX 2.2 XML, UTF-8) with n
transactions spread over several months: realistic card, transfer and direct-debit descriptors,
unique FITIDs, amounts in cents, a ledger and an available balance. The same seed gives the same
bytes.

`parse_only(data)` is what the parser library alone does with that file: ofxtools'
`OFXTree.parse` and `convert` (its documented way to get the transactions), returning how many
transactions it found. bench/imports.py sets it beside our import (which parses with the same
ofxtools tree builder, then maps, matches, seals and stores).
"""

from __future__ import annotations

import io
import random
from datetime import date, timedelta
from decimal import Decimal

__all__ = ["ofx_file", "parse_only"]

_HEADER = (
    '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
    '<?OFX OFXHEADER="200" VERSION="220" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>\n'
)
_MERCHANTS = (
    ("POS", "CORNER GROCERY #{n}", "{city} CARD {card}"),
    ("POS", "CITY TRANSIT TICKET", "CONTACTLESS {city}"),
    ("POS", "COFFEE & CO {n}", "CARD {card} {city}"),
    ("POS", "BOOKSHOP {city}", "CARD PURCHASE {card}"),
    ("POS", "FUEL STATION {n}", "PUMP {k} {city}"),
    ("DEBIT", "ONLINE MARKETPLACE", "ORDER {ref}"),
    ("DIRECTDEBIT", "POWER UTILITY", "MANDATE {ref} MONTHLY"),
    ("DIRECTDEBIT", "MOBILE NETWORK", "INVOICE {ref}"),
    ("XFER", "TRANSFER TO SAVINGS", "STANDING ORDER {ref}"),
    ("ATM", "ATM WITHDRAWAL", "ATM {k} {city}"),
    ("CHECK", "CHECK", "CHECK {k}"),
)
_CREDITS = (("DIRECTDEP", "EMPLOYER PAYROLL", "SALARY {ref}"), ("CREDIT", "REFUND MARKETPLACE", "RMA {ref}"))
_CITIES = ("SPRINGFIELD", "RIVERSIDE", "LAKEWOOD", "FAIRVIEW", "GREENVILLE", "MADISON")


def ofx_file(n: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    start = date(2025, 1, 1)
    days = max(90, n // 150)  # several months whatever n is
    dates = sorted(start + timedelta(days=rng.randrange(days)) for _ in range(n))
    parts = [
        _HEADER,
        "<OFX><SIGNONMSGSRSV1><SONRS><STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS>",
        f"<DTSERVER>{_dt(dates[-1] if dates else start)}</DTSERVER><LANGUAGE>ENG</LANGUAGE></SONRS>",
        "</SIGNONMSGSRSV1><BANKMSGSRSV1><STMTTRNRS><TRNUID>1</TRNUID>",
        "<STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS><STMTRS><CURDEF>USD</CURDEF>",
        "<BANKACCTFROM><BANKID>021000021</BANKID><ACCTID>000123456789</ACCTID>",
        "<ACCTTYPE>CHECKING</ACCTTYPE></BANKACCTFROM><BANKTRANLIST>",
        f"<DTSTART>{_dt(start)}</DTSTART><DTEND>{_dt(start + timedelta(days=days))}</DTEND>",
    ]
    balance = Decimal("2500.00")
    for i, day in enumerate(dates):
        credit = rng.random() < 0.08
        kind, name, memo = rng.choice(_CREDITS if credit else _MERCHANTS)
        cents = (
            rng.randrange(150_000, 450_000) if credit and kind == "DIRECTDEP" else rng.randrange(99, 25_000)
        )
        amount = Decimal(cents).scaleb(-2) * (1 if credit else -1)
        balance += amount
        fill = {
            "n": rng.randrange(100, 999),
            "city": rng.choice(_CITIES),
            "card": f"*{rng.randrange(1000, 9999)}",
            "k": rng.randrange(1, 9999),
            "ref": f"{rng.randrange(10**9):09d}",
        }
        parts.append(
            f"<STMTTRN><TRNTYPE>{kind}</TRNTYPE><DTPOSTED>{_dt(day)}</DTPOSTED><TRNAMT>{amount}</TRNAMT>"
            f"<FITID>{day:%Y%m%d}{i:09d}</FITID><NAME>{name.format(**fill)[:32]}</NAME>"
            f"<MEMO>{memo.format(**fill)}</MEMO></STMTTRN>"
        )
    end = dates[-1] if dates else start
    parts.append(
        f"</BANKTRANLIST><LEDGERBAL><BALAMT>{balance}</BALAMT><DTASOF>{_dt(end)}</DTASOF></LEDGERBAL>"
        f"<AVAILBAL><BALAMT>{balance}</BALAMT><DTASOF>{_dt(end)}</DTASOF></AVAILBAL>"
        "</STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n"
    )
    return "".join(parts).replace("&", "&amp;").encode("utf-8")


def _dt(day: date) -> str:
    return f"{day:%Y%m%d}120000.000[-5:EST]"


def parse_only(data: bytes) -> int:
    """ofxtools alone: parse the file and convert it to its models; the number of transactions."""
    from ofxtools.Parser import OFXTree

    tree = OFXTree()
    tree.parse(io.BytesIO(data))
    ofx = tree.convert()
    return sum(len(statement.transactions) for statement in ofx.statements)
