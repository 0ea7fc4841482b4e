"""A synthetic camt.053.001.08 statement of any size, for bench/imports.py, and the library-only
baseline.

`camt053_file(n, seed)` writes one statement (one `<Stmt>`, UTF-8) with n `<Ntry>` entries spread
over a year: card payments, direct debits, transfers and salary credits with realistic
remittance (split `Ustrd` lines, `Strd` creditor references, end-to-end ids), the 001.08 party
form (`<Cdtr><Pty><Nm>`) and status form (`<Sts><Cd>BOOK</Cd></Sts>`), a unique AcctSvcrRef
per entry, and opening and closing booked balances that add up. Every tenth entry is a batch
booking of three `TxDtls` with their own amounts, so the file holds n + 2 * (n // 10)
transactions (`transactions_in(n)`). The same seed gives the same bytes.

`parse_only(data)` is what the parser library alone does with that file: one streaming
`lxml.etree.iterparse` pass (the same settings as our reader: no entities, no network, no huge
trees), clearing each entry as it closes, returning how many `<Ntry>` elements it saw.
bench/imports.py sets it beside our import (which reads the same stream, then maps, matches,
seals and stores).
"""

from __future__ import annotations

import io
import random
from datetime import date, timedelta
from decimal import Decimal
from xml.sax.saxutils import escape

from lxml import etree

__all__ = ["camt053_file", "parse_only", "transactions_in"]

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
IBAN = "DE89370400440532013000"  # the standard example IBAN (valid checksum, no real account)
_CITIES = ("Berlin", "Hamburg", "Koeln", "Muenchen", "Leipzig", "Bremen")
_DEBITS = (
    ("Corner Grocery {k}", "Card payment {d} {city} card 4242", "PMNT", "CCRD", "POSD"),
    ("City Transit", "Ticket {ref} contactless {city}", "PMNT", "CCRD", "POSD"),
    ("Coffee & Co", "Card payment {d} Coffee & Co {city}", "PMNT", "CCRD", "POSD"),
    ("Power Utility AG", "Mandate {ref} monthly instalment {month}", "PMNT", "RDDT", "ESDD"),
    ("Mobile Network GmbH", "Invoice {ref} customer 55{k}", "PMNT", "RDDT", "ESDD"),
    ("Online Marketplace", "Order {ref} thank you for shopping", "PMNT", "ICDT", "ESCT"),
    ("Landlord Example KG", "Rent {month} flat 3 left", "PMNT", "ICDT", "STDO"),
)
_CREDITS = (
    ("Employer Example GmbH", "Salary {month} staff no 1{k}", "PMNT", "RCDT", "SALA"),
    ("Online Marketplace", "Refund order {ref}", "PMNT", "RCDT", "ESCT"),
)


def transactions_in(n: int) -> int:
    """How many StatementEntries a reader that splits batch bookings gets from camt053_file(n)."""
    return n + 2 * (n // 10)


def _amount(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low, high)).scaleb(-2)


def _party(debit: bool, name: str) -> str:
    role = "Cdtr" if debit else "Dbtr"
    return f"<RltdPties><{role}><Pty><Nm>{escape(name)}</Nm></Pty></{role}></RltdPties>"


def _remittance(rng: random.Random, text: str) -> str:
    cut = min(len(text), rng.randint(14, 40))  # banks split Ustrd lines anywhere
    lines = [text[:cut], text[cut:]] if cut < len(text) else [text]
    ustrd = "".join(f"<Ustrd>{escape(part)}</Ustrd>" for part in lines if part)
    strd = ""
    if rng.random() < 0.3:
        ref = f"RF{rng.randint(10, 99)}{rng.randint(10**9, 10**10)}"
        strd = f"<Strd><CdtrRefInf><Ref>{ref}</Ref></CdtrRefInf></Strd>"
    return f"<RmtInf>{ustrd}{strd}</RmtInf>"


def _tx(rng: random.Random, debit: bool, amount: Decimal | None, name: str, text: str, ref: str) -> str:
    own = (
        f'<Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{"DBIT" if debit else "CRDT"}</CdtDbtInd>' if amount else ""
    )
    return (f"<TxDtls><Refs><AcctSvcrRef>{ref}</AcctSvcrRef><EndToEndId>E2E{ref}</EndToEndId></Refs>{own}"
            f"{_party(debit, name)}{_remittance(rng, text)}</TxDtls>")  # fmt: skip


def _entry(rng: random.Random, i: int, day: date) -> tuple[Decimal, str]:
    """One <Ntry> and its signed amount."""
    debit = rng.random() < 0.85
    name, template, domain, family, sub = rng.choice(_DEBITS if debit else _CREDITS)
    ref = f"{day:%Y%m%d}{i:08d}"
    words = {"k": rng.randint(1, 99), "d": f"{day:%d%m}", "city": rng.choice(_CITIES), "ref": ref[-10:],
             "month": f"{day:%m/%Y}"}  # fmt: skip
    name, text = name.format(**words), template.format(**words)
    if i % 10 == 9:  # a batch booking: three transactions with their own amounts
        parts = [_amount(rng, 100, 20000) for _ in range(3)]
        total = sum(parts, Decimal("0.00"))
        details = "".join(_tx(rng, debit, part, f"{name} {n + 1}", text, f"{ref}-{n + 1}")
                          for n, part in enumerate(parts))  # fmt: skip
        batch = f'<Btch><NbOfTxs>3</NbOfTxs><TtlAmt Ccy="EUR">{total}</TtlAmt></Btch>'
        details = batch + details
    else:
        total = _amount(rng, 50, 250000 if not debit else 30000)
        details = _tx(rng, debit, None, name, text, ref)
    xml = (
        f'<Ntry><Amt Ccy="EUR">{total}</Amt><CdtDbtInd>{"DBIT" if debit else "CRDT"}</CdtDbtInd>'
        f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>"
        f"<AcctSvcrRef>{ref}</AcctSvcrRef><BkTxCd><Domn><Cd>{domain}</Cd><Fmly><Cd>{family}</Cd>"
        f"<SubFmlyCd>{sub}</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls>{details}</NtryDtls></Ntry>\n"
    )  # fmt: skip
    return (-total if debit else total), xml


def _balance(code: str, amount: Decimal, day: date) -> str:
    mark = "DBIT" if amount < 0 else "CRDT"
    return (f'<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{abs(amount)}</Amt>'
            f"<CdtDbtInd>{mark}</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>\n")  # fmt: skip


def camt053_file(n: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    start = date(2025, 1, 1)
    per_day = max(1, n // 365 + 1)
    opening = Decimal("2500.00")
    balance = opening
    entries: list[str] = []
    for i in range(n):
        amount, xml = _entry(rng, i, start + timedelta(days=i // per_day))
        balance += amount
        entries.append(xml)
    end = start + timedelta(days=max(0, n - 1) // per_day)
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="{NAMESPACE}"><BkToCstmrStmt>\n'
        f"<GrpHdr><MsgId>BENCH-{seed}-{n}</MsgId><CreDtTm>{end}T23:00:00+01:00</CreDtTm></GrpHdr>\n"
        f"<Stmt><Id>BENCH-STMT-{seed}-{n}</Id><ElctrncSeqNb>1</ElctrncSeqNb>"
        f"<FrToDt><FrDtTm>{start}T00:00:00+01:00</FrDtTm><ToDtTm>{end}T23:59:59+01:00</ToDtTm></FrToDt>\n"
        f"<Acct><Id><IBAN>{IBAN}</IBAN></Id><Ccy>EUR</Ccy><Ownr><Nm>Bench Owner</Nm></Ownr>"
        "<Svcr><FinInstnId><BICFI>COBADEFFXXX</BICFI></FinInstnId></Svcr></Acct>\n"
        + _balance("OPBD", opening, start - timedelta(days=1))
        + _balance("CLBD", balance, end)
    )  # fmt: skip
    return (head + "".join(entries) + "</Stmt></BkToCstmrStmt></Document>\n").encode()


def parse_only(data: bytes) -> int:
    """The library alone: one iterparse pass counting <Ntry>, clearing as it goes."""
    count = 0
    for _event, el in etree.iterparse(io.BytesIO(data), events=("end",), tag="{*}Ntry",
                                      resolve_entities=False, no_network=True, huge_tree=False):  # fmt: skip
        count += 1
        el.clear()
        while el.getprevious() is not None:
            del el.getparent()[0]
    return count


if __name__ == "__main__":
    import sys
    import time

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    blob = camt053_file(size)
    began = time.perf_counter()
    seen = parse_only(blob)
    print(
        f"{size} entries, {len(blob) / 1e6:.1f} MB, parse_only {seen} in {time.perf_counter() - began:.2f}s"
    )
