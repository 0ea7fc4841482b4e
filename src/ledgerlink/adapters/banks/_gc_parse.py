"""GoCardless Bank Account Data: reading one account record and one transaction entry
(the connector is `ledgerlink.adapters.banks.gocardless`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledgerlink.adapters.banks._providers import content_key, ident, iso_day, money, obj, text
from ledgerlink.domain.banking import AccountType, BankTransaction, TransactionStatus
from ledgerlink.services.linking.provider_ports import ProviderAccount, ProviderBadResponse

_NAME = "GoCardless"


def account_of(key: str, v: Mapping[str, Any]) -> ProviderAccount:
    return ProviderAccount(account_id=key, name=str(v["name"]), type=AccountType(v["type"]),
                           currency=str(v["currency"]), last4=str(v["last4"]),
                           institution=v.get("institution"))


def transaction_of(row: object, account_id: str, *, pending: bool, where: str) -> BankTransaction:
    if not isinstance(row, dict):
        raise ProviderBadResponse(f"GoCardless: {where} is not an object")
    value = obj(row.get("transactionAmount"))
    amount = money(value.get("amount"), value.get("currency"), f"{where}.transactionAmount")
    party = row.get("creditorName") if amount.is_negative() else row.get("debtorName")
    merchant = text(party, f"{where}.name") or None
    lines = row.get("remittanceInformationUnstructuredArray")
    remittance = " ".join(text(x, f"{where}.remittance") for x in lines[:10]) if isinstance(lines, list) \
        else text(row.get("remittanceInformationUnstructured"), f"{where}.remittance")
    booking = iso_day(row.get("bookingDate"), where, _NAME)
    value_day = iso_day(row.get("valueDate"), where, _NAME)
    key = row.get("transactionId") or row.get("internalTransactionId")
    mcc = row.get("merchantCategoryCode")
    return BankTransaction(
        bank_transaction_id=ident(key, f"{where}.transactionId") if key else content_key(
            "pending" if pending else "booked", value_day or booking, amount.amount, amount.currency,
            merchant, remittance),
        bank_account_id=account_id, status=TransactionStatus.PENDING if pending else TransactionStatus.POSTED,
        amount=amount, booking_date=None if pending else (booking or value_day), value_date=value_day,
        merchant=merchant, descriptor=remittance[:200] or merchant or "Transaction",
        mcc=mcc if isinstance(mcc, str) and mcc.isdigit() and len(mcc) == 4 else None)
