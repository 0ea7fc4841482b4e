"""One camt.05x `<Ntry>` into StatementEntries.

An entry is one booking on the account. A batch booking (several `TxDtls`) becomes one
StatementEntry per transaction when every transaction carries its own amount in the entry's
currency and those amounts add up to the entry (so the split is exact); otherwise the entry is
kept whole, with a warning. Ids are the bank's: the entry's AcctSvcrRef, or its NtryRef (unique
only within its statement, so prefixed with the statement's Id); split transactions use their
own Refs/AcctSvcrRef when those are distinct, else "<entry id>/<n>".

Elements are read by one pass over each level's children (`kids`), not by path lookups: this
runs once per entry of files with tens of thousands of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledgerlink.adapters.statements.camt_values import (
    Element,
    Names,
    fail,
    first,
    is_true,
    kids,
    line,
    read_amount,
    read_date,
    read_debit,
    text,
)
from ledgerlink.domain.banking import TransactionStatus
from ledgerlink.domain.money import Money
from ledgerlink.domain.statements import StatementEntry

__all__ = ["DESCRIPTOR_LIMIT", "NAME_LIMIT", "read_entry"]

DESCRIPTOR_LIMIT = 500
NAME_LIMIT = 140
REFERENCE_LIMIT = 140
ID_LIMIT = 128

_STATUS = {
    "BOOK": TransactionStatus.POSTED,
    "PDNG": TransactionStatus.PENDING,
    # Not booked (information only, or booked in the future): they may still change.
    "INFO": TransactionStatus.PENDING,
    "FUTR": TransactionStatus.PENDING,
}
_NO_REFERENCE = frozenset({"NOTPROVIDED", "NONREF", "NOT PROVIDED"})
# The other side of a booking: whom the money went to (debit) or came from (credit). The
# ultimate party first: behind a payment processor (the Cdtr) it is the merchant itself.
_COUNTERPARTY = {True: ("UltmtCdtr", "Cdtr"), False: ("UltmtDbtr", "Dbtr")}


@dataclass(frozen=True, slots=True)
class _Tx:
    """What one TxDtls says about itself."""

    where: str
    merchant: str | None = None
    remittance: str | None = None  # RmtInf/Ustrd, joined
    creditor_reference: str | None = None  # RmtInf/Strd/CdtrRefInf/Ref
    additional: str | None = None  # AddtlTxInf
    end_to_end: str | None = None
    bank_ref: str | None = None  # Refs/AcctSvcrRef
    amount: Money | None = None  # its own signed amount in the entry's currency, if it has one


def read_entry(
    ntry: Element, q: Names, where: str, *, statement_id: str | None, warnings: list[str]
) -> list[StatementEntry]:
    p = q.prefix
    k = kids(ntry)
    debit = read_debit(k.get(p + "CdtDbtInd"), where)
    signed = read_amount(k.get(p + "Amt"), f"{where}/Amt", negative=debit)
    status = _status(k.get(p + "Sts"), q, where)
    booking = read_date(k.get(p + "BookgDt"), q, f"{where}/BookgDt")
    value = read_date(k.get(p + "ValDt"), q, f"{where}/ValDt")
    reversal = is_true(k.get(p + "RvslInd"))
    entry_info = line(k.get(p + "AddtlNtryInf"), "AddtlNtryInf", DESCRIPTOR_LIMIT)
    entry_id = _entry_id(k, p, statement_id)
    txs = [
        _read_tx(tx, q, f"{where}/NtryDtls[{i}]/TxDtls[{j}]", debit, signed.currency)
        for i, details in enumerate(ntry.iterchildren(q("NtryDtls")), start=1)
        for j, tx in enumerate(details.iterchildren(q("TxDtls")), start=1)
    ]

    def make(amount_: Money, tx: _Tx | None, entry_id_: str | None, where_: str) -> StatementEntry:
        return StatementEntry(
            amount=amount_, booking_date=booking, value_date=value, status=status, reversal=reversal,
            entry_id=entry_id_, where=where_, merchant=tx.merchant if tx else None,
            reference=(tx.creditor_reference or tx.end_to_end) if tx else None,
            descriptor=_descriptor(tx, entry_info),
        )  # fmt: skip

    if len(txs) <= 1:  # the entry's own amount is authoritative; its one TxDtls describes it
        return [make(signed, txs[0] if txs else None, entry_id, where)]
    parts = [tx.amount for tx in txs]
    if any(a is None for a in parts) or sum(a.amount for a in parts if a is not None) != signed.amount:
        warnings.append(f"{where}: a batch of {len(txs)} transactions whose own amounts do not add up to "
                        "the entry; imported as one entry")  # fmt: skip
        return [make(signed, _Tx(where, additional=entry_info or f"batch of {len(txs)} transactions"),
                     entry_id, where)]  # fmt: skip
    refs = [tx.bank_ref for tx in txs]
    distinct = all(refs) and len(set(refs)) == len(refs) and entry_id not in refs
    return [
        make(tx.amount, tx, refs[n] if distinct else (f"{entry_id}/{n + 1}" if entry_id else None), tx.where)
        for n, tx in enumerate(txs)
        if tx.amount is not None
    ]


def _status(sts: Element | None, q: Names, where: str) -> TransactionStatus:
    if sts is None:
        raise fail(f"{where}/Sts", "missing: expected BOOK, PDNG or INFO")
    # 001.02-001.07: <Sts>BOOK</Sts>; 001.08 and later: <Sts><Cd>BOOK</Cd></Sts> (or <Prtry>).
    code = text(sts)
    if code is None:
        p = q.prefix
        k = kids(sts)
        code = text(k.get(p + "Cd")) or text(k.get(p + "Prtry"))
    found = _STATUS.get((code or "").upper())
    if found is None:
        shown = repr(code[:8]) if code else "an empty status"
        raise fail(f"{where}/Sts", f"{shown} is not an entry status: expected BOOK, PDNG or INFO")
    return found


def _entry_id(k: dict[str, Element], p: str, statement_id: str | None) -> str | None:
    bank_ref = text(k.get(p + "AcctSvcrRef"))
    if bank_ref:
        return bank_ref[:ID_LIMIT]
    ntry_ref = text(k.get(p + "NtryRef"))
    if ntry_ref is None:
        return None
    return (f"{statement_id}/{ntry_ref}" if statement_id else ntry_ref)[:ID_LIMIT]


def _read_tx(tx: Element, q: Names, where: str, entry_debit: bool, currency: str) -> _Tx:
    p = q.prefix
    k = kids(tx)
    mark = k.get(p + "CdtDbtInd")  # 001.03 and later: a transaction may say its own direction
    debit = read_debit(mark, where) if mark is not None else entry_debit
    # Small levels are read with `first` (one child by name: lxml's iterchildren, no dict
    # built, about 3x cheaper than `find`); `kids` is for the levels read for many names.
    merchant = None
    parties = k.get(p + "RltdPties")
    if parties is not None:
        for role in _COUNTERPARTY[debit]:
            party = first(parties, p + role)
            if party is not None:
                # 001.02-001.07: <Cdtr><Nm>; 001.08 and later: <Cdtr><Pty><Nm>.
                nested = first(party, p + "Pty")
                name = first(party if nested is None else nested, p + "Nm")
                merchant = line(name, "counterparty", NAME_LIMIT)
                if merchant:
                    break
    remittance = creditor_reference = None
    rmt = k.get(p + "RmtInf")
    if rmt is not None:
        ustrd, strd = p + "Ustrd", p + "Strd"
        parts: list[str] = []
        structured = None
        for child in rmt:
            tag = child.tag
            if tag == ustrd:
                shown = line(child, "remittance", DESCRIPTOR_LIMIT)
                if shown:
                    parts.append(shown)
            elif tag == strd and structured is None:
                structured = child
        remittance = " ".join(parts)[:DESCRIPTOR_LIMIT] or None
        ref_info = first(structured, p + "CdtrRefInf") if structured is not None else None
        if ref_info is not None:
            creditor_reference = line(first(ref_info, p + "Ref"), "reference", REFERENCE_LIMIT)
    end_to_end = bank_ref = None
    refs = k.get(p + "Refs")
    if refs is not None:
        end_to_end = line(first(refs, p + "EndToEndId"), "reference", REFERENCE_LIMIT)
        if end_to_end is not None and end_to_end.upper() in _NO_REFERENCE:
            end_to_end = None
        bank_ref = line(first(refs, p + "AcctSvcrRef"), "reference", ID_LIMIT)
    return _Tx(
        where=where, merchant=merchant, remittance=remittance, creditor_reference=creditor_reference,
        additional=line(k.get(p + "AddtlTxInf"), "AddtlTxInf", DESCRIPTOR_LIMIT), end_to_end=end_to_end,
        bank_ref=bank_ref, amount=_own_amount(k, q, where, debit, currency),
    )  # fmt: skip


def _own_amount(k: dict[str, Element], q: Names, where: str, debit: bool, currency: str) -> Money | None:
    """The transaction's own signed amount in the entry's currency: TxDtls/Amt (001.03 and
    later), else AmtDtls TxAmt, CntrValAmt or InstdAmt; None if it has none in that currency."""
    p = q.prefix
    own = k.get(p + "Amt")
    if own is not None and (own.get("Ccy") or "").strip().upper() == currency:
        return read_amount(own, f"{where}/Amt", negative=debit)
    details = k.get(p + "AmtDtls")
    if details is None:
        return None
    for name in ("TxAmt", "CntrValAmt", "InstdAmt"):
        holder = first(details, p + name)
        el = first(holder, p + "Amt") if holder is not None else None
        if el is not None and (el.get("Ccy") or "").strip().upper() == currency:
            return read_amount(el, f"{where}/AmtDtls/{name}/Amt", negative=debit)
    return None


def _descriptor(tx: _Tx | None, entry_info: str | None) -> str:
    if tx is None:
        return entry_info or ""
    return (tx.remittance or tx.additional or tx.creditor_reference or entry_info or tx.merchant or "")[
        :DESCRIPTOR_LIMIT
    ]
