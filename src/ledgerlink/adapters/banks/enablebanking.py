"""Enable Banking connector (https://enablebanking.com/docs/api/reference/), a `ProviderConnector`.

Every call carries an application JWT signed here with joserfc: RS256, header ``kid`` = the
application id, claims ``iss`` "enablebanking.com", ``aud`` "api.enablebanking.com",
``iat``, ``exp`` (one hour, reused until a minute before it ends; Enable Banking refuses
more than a day). The private key never leaves this object.

Linking: `institutions` is ``GET /aspsps``; `start_link` is ``POST /auth`` (access
valid_until, aspsp name and country, state, redirect_url, psu_type) and answers the bank's
URL; the bank sends the person back with ``code`` and ``state``; `finish_link` is
``POST /sessions {code}``. The credential blob keeps the session id and, per account, its
session ``uid`` and what the session said about it (name, type, currency, last four).

Ids: an account is keyed by its ``identification_hash`` (the same in every session; the
``uid`` is only valid in one). A transaction is keyed by ``entry_reference`` ("unique and
immutable ... across multiple PSU authentication sessions"); never ``transaction_id``, which
"may change if the list of transactions is retrieved again". Entries without one (most
pending ones) get a digest of what they say (`content_key`): stable while they are pending;
when booked they come back as new entries with an ``entry_reference``.

Limits: PSD2 banks allow 4 reads a day per account without the person present. An attended
refresh passes `PsuPresence`, sent as ``Psu-Ip-Address`` / ``Psu-User-Agent``, which banks
do not count. A 429 (``ASPSP_RATE_LIMIT_EXCEEDED``) becomes `ProviderRateLimited`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey

from ledgerlink.adapters.banks._providers import (
    Reply,
    check_url,
    content_key,
    decode_blob,
    encode_blob,
    ident,
    iso_day,
    iso_instant,
    money,
    obj,
    per_account,
    retry_after,
    safe_code,
    send,
    text,
    to_utc_midnight,
)
from ledgerlink.domain.banking import AccountType, BankTransaction, Scope, TransactionStatus
from ledgerlink.domain.clock import Clock
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.services.linking.provider_ports import (
    Institution,
    LinkKind,
    LinkStart,
    ProviderAccount,
    ProviderBadResponse,
    ProviderBalance,
    ProviderConnector,
    ProviderConsentExpired,
    ProviderError,
    ProviderLink,
    ProviderRateLimited,
    ProviderRefused,
    ProviderTransactions,
    ProviderUnavailable,
    PsuPresence,
)

__all__ = ["DEFAULT_API_URL", "EnableBankingConnector"]

DEFAULT_API_URL = "https://api.enablebanking.com"
_NAME = "Enable Banking"
_JWT_TTL = 3600
_MAX_PAGES = 1000
_SESSION_GONE = {"EXPIRED_SESSION", "CLOSED_SESSION", "REVOKED_SESSION", "SESSION_DOES_NOT_EXIST",
                 "EXPIRED_CONSENT", "REVOKED_CONSENT"}
_UNAVAILABLE = {"ASPSP_ERROR", "ASPSP_TIMEOUT", "SERVICE_UNAVAILABLE"}
_CURRENT = ("ITBD", "CLBD", "XPCD", "OTHR", "INFO", "VALU", "OPBD", "PRCD")
_AVAILABLE = ("ITAV", "CLAV", "FWAV", "OPAV")
_TYPES = {"CACC": AccountType.CHECKING, "SVGS": AccountType.SAVINGS, "CARD": AccountType.CREDIT_CARD,
          "LOAN": AccountType.LOAN}


class EnableBankingConnector:
    provider = "enablebanking"
    link_kind = LinkKind.REDIRECT

    def __init__(self, *, http: httpx.AsyncClient, clock: Clock, application_id: str,
                 private_key_pem: bytes, api_url: str = DEFAULT_API_URL,
                 allow_insecure_loopback: bool = False, psu_type: str = "personal") -> None:
        self._http = http
        self._clock = clock
        self._api = check_url(api_url.rstrip("/"), allow_insecure_loopback=allow_insecure_loopback,
                              what="the Enable Banking API URL")
        self._app = application_id
        try:
            self._key = RSAKey.import_key(private_key_pem)
        except Exception:
            raise InvalidInput("the Enable Banking private key is not an RSA key in PEM",
                               code="provider_bad_key") from None
        if not self._key.is_private:
            raise InvalidInput("the Enable Banking key must be the application's private key",
                               code="provider_bad_key")
        self._psu_type = psu_type
        self._jwt: tuple[str, datetime] | None = None

    # ------------------------------------------------------------------ linking

    async def institutions(self, *, country: str) -> list[Institution]:
        data = await self._call("GET", "/aspsps",
                                params={"country": country.upper(), "psu_type": self._psu_type})
        rows = data.get("aspsps")
        if not isinstance(rows, list):
            raise ProviderBadResponse("Enable Banking: aspsps is not a list")
        out = []
        for row in rows[:2000]:
            if not isinstance(row, dict):
                continue
            name, land = text(row.get("name"), "aspsps[].name"), text(row.get("country"), "aspsps[].country")
            validity = row.get("maximum_consent_validity")
            days = validity // 86400 if isinstance(validity, int) else None
            out.append(Institution(id=f"{land}:{name}", name=name, country=land or None,
                                   max_consent_days=days))
        return out

    async def start_link(self, *, state: str, redirect_url: str, institution_id: str | None,
                         scopes: Sequence[Scope], valid_for: timedelta) -> LinkStart:
        country, _, name = (institution_id or "").partition(":")
        if len(country) != 2 or not name:
            raise InvalidInput("choose a bank (institution_id 'CC:Bank name' from institutions())",
                               code="provider_bad_institution")
        valid_until = self._clock.now() + valid_for
        data = await self._call("POST", "/auth", json={
            "access": {"valid_until": valid_until.isoformat(), "balances": Scope.BALANCES in scopes,
                       "transactions": Scope.TRANSACTIONS in scopes},
            "aspsp": {"name": name, "country": country.upper()}, "state": state,
            "redirect_url": redirect_url, "psu_type": self._psu_type})
        url = data.get("url")
        if not isinstance(url, str):
            raise ProviderBadResponse("Enable Banking: the /auth answer has no url")
        pending = encode_blob(self.provider, {"state": state, "aspsp": name,
                                              "authorization_id": data.get("authorization_id")})
        return LinkStart(kind=LinkKind.REDIRECT, redirect_url=url, expires_at=None, pending=pending)

    async def finish_link(self, *, pending: bytes, answer: Mapping[str, str]) -> ProviderLink:
        started = decode_blob(self.provider, pending, "link in progress")
        if answer.get("state") != started.get("state"):
            raise ProviderRefused("the bank's answer does not belong to this link", code="state_mismatch")
        if answer.get("error"):
            declined = answer["error"] in ("access_denied", "consent_declined")
            raise ProviderRefused("the consent was declined at the bank" if declined else
                                  "the bank did not grant the consent",
                                  code="consent_declined" if declined else safe_code(answer["error"]))
        code = answer.get("code")
        if not code:
            raise ProviderRefused("the bank's answer has no authorization code", code="no_code")
        data = await self._call("POST", "/sessions", json={"code": code})
        session_id = ident(data.get("session_id"), "session_id")
        access = obj(data.get("access"))
        aspsp = obj(data.get("aspsp"))
        bank = text(aspsp.get("name"), "aspsp.name") or None
        accounts, uids = [], {}
        for row in data.get("accounts") or []:
            if not isinstance(row, dict) or not row.get("uid"):
                continue  # an account the bank lists but gives no access to (blocked, closed)
            account = self._account(row, bank)
            accounts.append(account)
            uids[account.account_id] = {"uid": ident(row.get("uid"), "accounts[].uid"), "name": account.name,
                                        "type": account.type.value, "currency": account.currency,
                                        "last4": account.last4, "institution": bank}
        scopes = tuple(s for s, key in ((Scope.BALANCES, "balances"), (Scope.TRANSACTIONS, "transactions"))
                       if access.get(key, True) is not False)
        blob = encode_blob(self.provider, {"session_id": session_id, "accounts": uids})
        return ProviderLink(credential=blob,
                            valid_until=iso_instant(access.get("valid_until"), "access.valid_until", _NAME),
                            accounts=tuple(accounts), scopes=scopes)

    def _account(self, row: Mapping[str, Any], bank: str | None) -> ProviderAccount:
        number = obj(row.get("account_id"))
        raw = number.get("iban") or (number.get("other") or {}).get("identification") or ""
        digits = "".join(ch for ch in str(raw) if ch.isalnum())
        currency = str(row.get("currency", "")).upper()
        money("0", currency, "accounts[].currency")  # refuses a non-ISO 4217 currency
        return ProviderAccount(
            account_id=ident(row.get("identification_hash"), "accounts[].identification_hash"),
            name=text(row.get("details") or row.get("product") or row.get("name"), "accounts[].details",
                      default="Account"),
            type=_TYPES.get(str(row.get("cash_account_type")), AccountType.OTHER), currency=currency,
            last4=digits[-4:] if len(digits) >= 4 else "", institution=bank)

    # ------------------------------------------------------------------ data

    async def accounts(self, *, credential: bytes) -> list[ProviderAccount]:
        blob = decode_blob(self.provider, credential)
        data = await self._call("GET", f"/sessions/{quote(str(blob.get('session_id')), safe='')}")
        if data.get("status") != "AUTHORIZED":
            raise ProviderConsentExpired(f"the Enable Banking session is {safe_code(data.get('status'))}")
        live = set(data.get("accounts") or [])
        return [ProviderAccount(account_id=key, name=v["name"], type=AccountType(v["type"]),
                                currency=v["currency"], last4=v["last4"], institution=v.get("institution"))
                for key, v in blob.get("accounts", {}).items() if v.get("uid") in live]

    async def balance(self, *, credential: bytes, account_id: str,
                      psu: PsuPresence | None = None) -> ProviderBalance:
        uid = self._uid(credential, account_id)
        data = await self._call("GET", f"/accounts/{uid}/balances", psu=psu)
        found: dict[str, Any] = {}
        for row in data.get("balances") or []:
            if isinstance(row, dict) and isinstance(row.get("balance_type"), str):
                found.setdefault(row["balance_type"], row)
        current = next((found[k] for k in _CURRENT if k in found), None)
        available = next((found[k] for k in _AVAILABLE if k in found), None)
        if current is None and available is None:
            raise ProviderBadResponse("Enable Banking: the account has no balance of a known type")
        base = current or available
        assert base is not None

        def amount(row: Mapping[str, Any]) -> Any:
            value = obj(row.get("balance_amount"))
            return money(value.get("amount"), value.get("currency"), "balances[].balance_amount")

        as_of = base.get("last_change_date_time") or base.get("reference_date")
        return ProviderBalance(account_id=account_id, current=amount(base),
                               available=amount(available) if available is not None else None,
                               as_of=iso_instant(as_of, "balances[].reference_date", _NAME) if as_of
                               else self._clock.now())

    async def transactions(self, *, credential: bytes, account_id: str, since: date,
                           psu: PsuPresence | None = None) -> ProviderTransactions:
        uid = self._uid(credential, account_id)
        booked: list[BankTransaction] = []
        pending: list[BankTransaction] = []
        seen: set[str] = set()
        key: str | None = None
        for _ in range(_MAX_PAGES):
            params = {"date_from": since.isoformat()} | ({"continuation_key": key} if key else {})
            data = await self._call("GET", f"/accounts/{uid}/transactions", params=params, psu=psu)
            rows = data.get("transactions")
            if not isinstance(rows, list):
                raise ProviderBadResponse("Enable Banking: transactions is not a list")
            for i, row in enumerate(rows):
                txn = _transaction(row, account_id, i)
                if txn is not None and txn.bank_transaction_id not in seen:
                    seen.add(txn.bank_transaction_id)
                    (pending if txn.status is TransactionStatus.PENDING else booked).append(txn)
            nxt = data.get("continuation_key")
            if not nxt:
                return ProviderTransactions(account_id=account_id, booked=tuple(booked),
                                            pending=tuple(pending))
            if not isinstance(nxt, str) or nxt == key:
                raise ProviderBadResponse("Enable Banking repeated or garbled its continuation_key")
            key = nxt
        raise ProviderBadResponse(f"Enable Banking sent more than {_MAX_PAGES} pages")

    async def transactions_many(self, *, credential: bytes, account_ids: Sequence[str], since: date,
                                psu: PsuPresence | None = None
                                ) -> dict[str, ProviderTransactions | ProviderError]:
        async def one(account_id: str) -> ProviderTransactions:
            return await self.transactions(credential=credential, account_id=account_id, since=since, psu=psu)

        return await per_account(one, account_ids)

    async def revoke(self, *, credential: bytes) -> None:
        blob = decode_blob(self.provider, credential)
        try:
            await self._call("DELETE", f"/sessions/{quote(str(blob.get('session_id')), safe='')}")
        except ProviderConsentExpired:
            return  # already closed or expired: nothing left to end

    # ------------------------------------------------------------------ internals

    def _uid(self, credential: bytes, account_id: str) -> str:
        entry = decode_blob(self.provider, credential).get("accounts", {}).get(account_id)
        if not isinstance(entry, dict) or not isinstance(entry.get("uid"), str):
            raise ProviderRefused("this account is not part of the Enable Banking session",
                                  code="account_missing")
        return quote(entry["uid"], safe="")

    def _token(self) -> str:
        now = self._clock.now()
        if self._jwt is not None and now < self._jwt[1] - timedelta(seconds=60):
            return self._jwt[0]
        iat = int(now.timestamp())
        token = jwt.encode({"typ": "JWT", "alg": "RS256", "kid": self._app},
                           {"iss": "enablebanking.com", "aud": "api.enablebanking.com", "iat": iat,
                            "exp": iat + _JWT_TTL, "jti": str(uuid.uuid4())}, self._key, algorithms=["RS256"])
        self._jwt = (token, now + timedelta(seconds=_JWT_TTL))
        return token

    async def _call(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                    json: Mapping[str, Any] | None = None, psu: PsuPresence | None = None) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {self._token()}", "accept": "application/json"}
        if psu is not None:
            headers |= {"psu-ip-address": psu.ip_address, "psu-user-agent": psu.user_agent[:256]}
        reply = await send(self._http, method, f"{self._api}{path}", provider=_NAME, headers=headers,
                           params=params, json=json)
        if reply.status >= 300:
            self._raise_for(reply)
        data = reply.json(_NAME)
        if not isinstance(data, dict):
            raise ProviderBadResponse("Enable Banking answered with a non-object")
        return data

    def _raise_for(self, reply: Reply) -> None:
        try:
            body = reply.json(_NAME)
        except ProviderBadResponse:
            body = {}
        error = safe_code(body.get("error") if isinstance(body, dict) else None, f"http_{reply.status}")
        if reply.status == 429 or error == "ASPSP_RATE_LIMIT_EXCEEDED":
            now = self._clock.now()
            wait = retry_after(reply.headers, now) or to_utc_midnight(now)
            raise ProviderRateLimited(f"the bank's daily limit for reads without you present is used up "
                                      f"({error}); retry in {wait} s", retry_after=wait, remaining=0)
        if error in _SESSION_GONE:
            raise ProviderConsentExpired(f"the Enable Banking session has ended ({error})")
        if reply.status >= 500 or error in _UNAVAILABLE:
            raise ProviderUnavailable(f"Enable Banking or the bank failed ({reply.status} {error})")
        if reply.status == 401:
            raise ProviderRefused(f"Enable Banking refused the application's credentials ({error})",
                                  code="application_unauthorized")
        raise ProviderRefused(f"Enable Banking refused the request ({reply.status} {error})", code=error)


def _transaction(row: object, account_id: str, i: int) -> BankTransaction | None:
    where = f"transactions[{i}]"
    if not isinstance(row, dict):
        raise ProviderBadResponse(f"Enable Banking: {where} is not an object")
    status = row.get("status")
    if status in ("CNCL", "RJCT", "SCHD"):
        return None  # cancelled, rejected or not yet executed: not money that moved
    pending = status in ("PDNG", "HOLD") or (status == "OTHR" and not row.get("booking_date"))
    value = obj(row.get("transaction_amount"))
    amount = money(value.get("amount"), value.get("currency"), f"{where}.transaction_amount")
    indicator = row.get("credit_debit_indicator")
    if (indicator == "DBIT" and not amount.is_negative()) or (indicator == "CRDT" and amount.is_negative()):
        amount = -amount
    party = row.get("creditor" if indicator == "DBIT" else "debtor")
    merchant = text(party.get("name"), f"{where}.party.name") or None if isinstance(party, dict) else None
    remittance = row.get("remittance_information")
    lines = [text(x, f"{where}.remittance_information") for x in remittance[:10]] \
        if isinstance(remittance, list) else []
    code = obj(row.get("bank_transaction_code"))
    descriptor = " ".join(x for x in lines if x)[:200] or text(code.get("description"), f"{where}.code") \
        or merchant or "Transaction"
    booking = iso_day(row.get("booking_date"), where, _NAME)
    value_day = iso_day(row.get("value_date"), where, _NAME)
    made = iso_day(row.get("transaction_date"), where, _NAME)
    reference = row.get("entry_reference")
    key = ident(reference, f"{where}.entry_reference") if reference else content_key(
        "pending" if pending else "booked", made or value_day or booking, amount.amount, amount.currency,
        merchant, "|".join(lines), row.get("reference_number"))
    mcc = row.get("merchant_category_code")
    return BankTransaction(
        bank_transaction_id=key, bank_account_id=account_id,
        status=TransactionStatus.PENDING if pending else TransactionStatus.POSTED, amount=amount,
        booking_date=None if pending else (booking or value_day), value_date=value_day or made,
        merchant=merchant, descriptor=descriptor,
        mcc=mcc if isinstance(mcc, str) and mcc.isdigit() and len(mcc) == 4 else None)




def _conforms(connector: EnableBankingConnector) -> ProviderConnector:
    return connector  # mypy: the class implements the port
