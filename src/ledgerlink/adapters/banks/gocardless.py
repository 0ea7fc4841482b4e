"""GoCardless Bank Account Data connector (https://developer.gocardless.com/bank-account-data/),
a `ProviderConnector`.

Auth: the operator's secret_id / secret_key buy an access token (``POST /api/v2/token/new/``,
a day) and a refresh token (30 days, ``/token/refresh/``); both live in this object only, one
per platform, and a 401 "Invalid token" refreshes once and retries.

Linking: `start_link` creates an end-user agreement (``/agreements/enduser/``: history days,
access_valid_for_days, access_scope) and a requisition (``/requisitions/``: redirect,
institution_id, agreement, reference = our state) and answers its ``link``. The bank sends
the person back to ``redirect?ref=<reference>``; `finish_link` reads the requisition (it must
be ``LN``), the agreement (accepted + access_valid_for_days = the consent's end), and each
account's metadata and details.

Ids: GoCardless makes new account ids for every requisition, so an account is keyed by a
digest of the institution and its IBAN (or the bank's resourceId), the same after a
re-consent and never the number itself. A transaction is keyed by the bank's
``transactionId``, else GoCardless's ``internalTransactionId``, else a digest of the entry.
Pending entries usually have only an ``internalTransactionId``; once booked they come back
as new entries.

Limits: GoCardless counts successful reads per account and scope (details, balances,
transactions; often 4 a day) and says what is left in
``HTTP_X_RATELIMIT_ACCOUNT_SUCCESS_LIMIT|REMAINING|RESET``: every `transactions` answer
carries that as `ProviderQuota`; a 429 becomes `ProviderRateLimited` waiting the larger of
Retry-After, the reset header and the "try again in N seconds" of its detail.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from ledgerlink.adapters.banks._gc_parse import account_of, transaction_of
from ledgerlink.adapters.banks._providers import (
    Reply,
    check_url,
    decode_blob,
    encode_blob,
    ident,
    iso_instant,
    money,
    obj,
    per_account,
    quota_from,
    retry_after,
    safe_code,
    send,
    text,
)
from ledgerlink.domain.banking import AccountType, BankTransaction, Scope
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
    note_quota,
)

__all__ = ["DEFAULT_API_URL", "GoCardlessConnector"]

DEFAULT_API_URL = "https://bankaccountdata.gocardless.com"
_NAME = "GoCardless"
_TRY_AGAIN = re.compile(r"try again in (\d+) seconds", re.IGNORECASE)
_CURRENT = ("closingBooked", "interimBooked", "expected", "openingBooked", "forwardAvailable")
_AVAILABLE = ("interimAvailable", "closingAvailable", "expected")
_TYPES = {"CACC": AccountType.CHECKING, "SVGS": AccountType.SAVINGS, "CARD": AccountType.CREDIT_CARD,
          "LOAN": AccountType.LOAN}


class GoCardlessConnector:
    provider = "gocardless"
    link_kind = LinkKind.REDIRECT

    def __init__(self, *, http: httpx.AsyncClient, clock: Clock, secret_id: str, secret_key: str,
                 api_url: str = DEFAULT_API_URL, allow_insecure_loopback: bool = False,
                 max_historical_days: int = 90, user_language: str = "EN") -> None:
        self._http = http
        self._clock = clock
        self._api = check_url(api_url.rstrip("/"), allow_insecure_loopback=allow_insecure_loopback,
                              what="the GoCardless API URL") + "/api/v2"
        self._secret = (secret_id, secret_key)
        self._history = max_historical_days
        self._language = user_language
        self._access: tuple[str, datetime] | None = None
        self._refresh: tuple[str, datetime] | None = None
        self._lock = asyncio.Lock()  # one token purchase at a time: the token endpoint is limited too

    def __repr__(self) -> str:
        return f"GoCardlessConnector(api={self._api!r})"

    # ------------------------------------------------------------------ linking

    async def institutions(self, *, country: str) -> list[Institution]:
        rows = await self._call("GET", "/institutions/", params={"country": country.upper()})
        if not isinstance(rows, list):
            raise ProviderBadResponse("GoCardless: institutions is not a list")
        return [self._institution(r, country.upper()) for r in rows[:5000] if isinstance(r, dict)]

    def _institution(self, row: Mapping[str, Any], country: str | None) -> Institution:
        days = str(row.get("max_access_valid_for_days", ""))
        return Institution(id=ident(row.get("id"), "institutions[].id"),
                           name=text(row.get("name"), "institutions[].name", default="Bank"),
                           country=country, max_consent_days=int(days) if days.isdigit() else None)

    async def start_link(self, *, state: str, redirect_url: str, institution_id: str | None,
                         scopes: Sequence[Scope], valid_for: timedelta) -> LinkStart:
        if not institution_id:
            raise InvalidInput("choose a bank (an institution id from institutions())",
                               code="provider_bad_institution")
        inst = await self._call("GET", f"/institutions/{quote(institution_id, safe='')}/")
        limit = str(obj(inst).get("max_access_valid_for_days", "90"))
        history = str(obj(inst).get("transaction_total_days", "90"))
        days = max(1, min(valid_for.days, int(limit) if limit.isdigit() else 90))
        scope = ["details"] + [s.value for s in (Scope.BALANCES, Scope.TRANSACTIONS) if s in scopes]
        agreement = obj(await self._call("POST", "/agreements/enduser/", json={
            "institution_id": institution_id, "access_valid_for_days": days, "access_scope": scope,
            "max_historical_days": min(self._history, int(history) if history.isdigit() else 90)}))
        requisition = obj(await self._call("POST", "/requisitions/", json={
            "redirect": redirect_url, "institution_id": institution_id, "agreement": agreement.get("id"),
            "reference": state, "user_language": self._language}))
        link = requisition.get("link")
        if not isinstance(link, str):
            raise ProviderBadResponse("GoCardless: the requisition has no link")
        return LinkStart(kind=LinkKind.REDIRECT, redirect_url=link, expires_at=None, pending=encode_blob(
            self.provider, {"state": state, "institution_id": institution_id,
                            "requisition_id": ident(requisition.get("id"), "requisition.id"),
                            "agreement_id": ident(agreement.get("id"), "agreement.id")}))

    async def finish_link(self, *, pending: bytes, answer: Mapping[str, str]) -> ProviderLink:
        started = decode_blob(self.provider, pending, "link in progress")
        if answer.get("ref") != started.get("state"):
            raise ProviderRefused("the bank's answer does not belong to this link", code="state_mismatch")
        if answer.get("error"):
            raise ProviderRefused("the consent was not given at the bank", code="consent_declined")
        requisition = await self._requisition(str(started["requisition_id"]))
        agreement_path = f"/agreements/enduser/{quote(str(started['agreement_id']), safe='')}/"
        agreement = obj(await self._call("GET", agreement_path))
        accepted, days = agreement.get("accepted"), agreement.get("access_valid_for_days")
        valid_until = (iso_instant(accepted, "agreement.accepted", _NAME) + timedelta(days=int(days))
                       if accepted and isinstance(days, int) else None)
        inst_id = str(started["institution_id"])
        bank = text(obj(await self._call("GET", f"/institutions/{quote(inst_id, safe='')}/")).get("name"),
                    "institution.name") or None
        accounts: dict[str, dict[str, Any]] = {}
        for gc_id in requisition.get("accounts") or []:
            gc_id = quote(ident(gc_id, "requisition.accounts[]"), safe="")
            meta = obj(await self._call("GET", f"/accounts/{gc_id}/"))
            details = obj(obj(await self._call("GET", f"/accounts/{gc_id}/details/")).get("account"))
            number = str(details.get("iban") or meta.get("iban") or details.get("resourceId") or gc_id)
            digits = "".join(ch for ch in number if ch.isalnum())
            currency = str(details.get("currency", "")).upper()
            money("0", currency, "account.currency")  # refuses a non-ISO 4217 currency
            stable = "gc-" + hashlib.sha256(f"{inst_id}|{number}".encode()).hexdigest()[:32]
            accounts[stable] = {
                "id": gc_id, "currency": currency, "institution": bank, "last4": digits[-4:],
                "name": text(details.get("name") or details.get("product"), "account.name",
                             default="Account"),
                "type": _TYPES.get(str(details.get("cashAccountType")), AccountType.OTHER).value}
        scope = agreement.get("access_scope") or []
        scopes = tuple(s for s in (Scope.BALANCES, Scope.TRANSACTIONS) if s.value in scope)
        blob = encode_blob(self.provider, {"requisition_id": started["requisition_id"],
                                           "agreement_id": started["agreement_id"], "accounts": accounts})
        return ProviderLink(credential=blob, valid_until=valid_until, scopes=scopes,
                            accounts=tuple(account_of(k, v) for k, v in accounts.items()))

    async def _requisition(self, requisition_id: str) -> dict[str, Any]:
        requisition = obj(await self._call("GET", f"/requisitions/{quote(requisition_id, safe='')}/"))
        status = requisition.get("status")
        if status == "LN":
            return requisition
        if status == "EX":
            raise ProviderConsentExpired("the GoCardless end-user agreement has expired (requisition EX)")
        if status == "RJ":
            raise ProviderRefused("the consent was not given at the bank", code="consent_declined")
        raise ProviderRefused(f"the bank link is not complete ({safe_code(status)})",
                              code="consent_incomplete")

    # ------------------------------------------------------------------ data

    async def accounts(self, *, credential: bytes) -> list[ProviderAccount]:
        blob = decode_blob(self.provider, credential)
        live = set((await self._requisition(str(blob.get("requisition_id")))).get("accounts") or [])
        return [account_of(k, v) for k, v in blob.get("accounts", {}).items() if v.get("id") in live]

    async def balance(self, *, credential: bytes, account_id: str,
                      psu: PsuPresence | None = None) -> ProviderBalance:
        reply = await self._send("GET", f"/accounts/{self._gc_id(credential, account_id)}/balances/")
        note_quota("balances", quota_from(reply.headers))
        data = obj(reply.json(_NAME))
        found: dict[str, dict[str, Any]] = {}
        for row in data.get("balances") or []:
            if isinstance(row, dict) and isinstance(row.get("balanceType"), str):
                found.setdefault(row["balanceType"], row)
        current = next((found[k] for k in _CURRENT if k in found), None)
        available = next((found[k] for k in _AVAILABLE if k in found and found[k] is not current), None)
        base = current or available
        if base is None:
            raise ProviderBadResponse("GoCardless: the account has no balance of a known type")

        def amount(row: Mapping[str, Any]) -> Any:
            value = obj(row.get("balanceAmount"))
            return money(value.get("amount"), value.get("currency"), "balances[].balanceAmount")

        as_of = base.get("lastChangeDateTime") or base.get("referenceDate")
        return ProviderBalance(account_id=account_id, current=amount(base),
                               available=amount(available) if available is not None else None,
                               as_of=iso_instant(as_of, "balances[].referenceDate", _NAME) if as_of
                               else self._clock.now())

    async def transactions(self, *, credential: bytes, account_id: str, since: date,
                           psu: PsuPresence | None = None) -> ProviderTransactions:
        gc_id = self._gc_id(credential, account_id)
        reply = await self._send("GET", f"/accounts/{gc_id}/transactions/",
                                 params={"date_from": since.isoformat()})
        lists = obj(obj(reply.json(_NAME)).get("transactions"))
        out: dict[str, list[BankTransaction]] = {"booked": [], "pending": []}
        for kind in ("booked", "pending"):
            rows = lists.get(kind) or []
            if not isinstance(rows, list):
                raise ProviderBadResponse(f"GoCardless: transactions.{kind} is not a list")
            seen: set[str] = set()
            for i, row in enumerate(rows):
                txn = transaction_of(row, account_id, pending=kind == "pending", where=f"{kind}[{i}]")
                if txn.bank_transaction_id not in seen:
                    seen.add(txn.bank_transaction_id)
                    out[kind].append(txn)
        quota = quota_from(reply.headers)
        note_quota("transactions", quota)
        return ProviderTransactions(account_id=account_id, booked=tuple(out["booked"]),
                                    pending=tuple(out["pending"]), quota=quota)

    async def transactions_many(self, *, credential: bytes, account_ids: Sequence[str], since: date,
                                psu: PsuPresence | None = None
                                ) -> dict[str, ProviderTransactions | ProviderError]:
        async def one(account_id: str) -> ProviderTransactions:
            return await self.transactions(credential=credential, account_id=account_id, since=since, psu=psu)

        return await per_account(one, account_ids)

    async def revoke(self, *, credential: bytes) -> None:
        blob = decode_blob(self.provider, credential)
        try:
            await self._call("DELETE", f"/requisitions/{quote(str(blob.get('requisition_id')), safe='')}/")
        except ProviderRefused as exc:
            if exc.code != "not_found":
                raise

    # ------------------------------------------------------------------ internals

    def _gc_id(self, credential: bytes, account_id: str) -> str:
        entry = decode_blob(self.provider, credential).get("accounts", {}).get(account_id)
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise ProviderRefused("this account is not part of the GoCardless link", code="account_missing")
        return quote(entry["id"], safe="")

    async def _token(self) -> str:
        async with self._lock:
            return await self._token_locked()

    async def _token_locked(self) -> str:
        now = self._clock.now()
        if self._access is not None and now < self._access[1] - timedelta(seconds=60):
            return self._access[0]
        refreshed = None
        if self._refresh is not None and now < self._refresh[1] - timedelta(seconds=60):
            reply = await send(self._http, "POST", f"{self._api}/token/refresh/", provider=_NAME,
                               json={"refresh": self._refresh[0]}, headers={"accept": "application/json"})
            refreshed = reply if reply.status == 200 else None
        if refreshed is None:
            reply = await send(self._http, "POST", f"{self._api}/token/new/", provider=_NAME,
                               json={"secret_id": self._secret[0], "secret_key": self._secret[1]},
                               headers={"accept": "application/json"})
            if reply.status in (400, 401, 403):
                raise ProviderRefused("GoCardless refused the application's secret_id / secret_key",
                                      code="application_unauthorized")
            if reply.status != 200:
                self._raise_for(reply)
        else:
            reply = refreshed
        data = obj(reply.json(_NAME))
        access, expires = data.get("access"), data.get("access_expires")
        if not isinstance(access, str) or not isinstance(expires, int):
            raise ProviderBadResponse("GoCardless: the token answer has no access token")
        self._access = (access, now + timedelta(seconds=expires))
        if isinstance(data.get("refresh"), str) and isinstance(data.get("refresh_expires"), int):
            self._refresh = (data["refresh"], now + timedelta(seconds=data["refresh_expires"]))
        return access

    async def _send(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                    json: Mapping[str, Any] | None = None) -> Reply:
        for attempt in (1, 2):
            headers = {"authorization": f"Bearer {await self._token()}", "accept": "application/json"}
            reply = await send(self._http, method, f"{self._api}{path}", provider=_NAME, headers=headers,
                               params=params, json=json)
            if reply.status == 401 and attempt == 1 and _token_failure(reply):
                self._access = None  # ours went stale: refresh once and retry
                continue
            if reply.status >= 300:
                self._raise_for(reply)
            return reply
        raise ProviderRefused("GoCardless refused a fresh access token", code="application_unauthorized")

    async def _call(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                    json: Mapping[str, Any] | None = None) -> Any:
        return (await self._send(method, path, params=params, json=json)).json(_NAME)

    def _raise_for(self, reply: Reply) -> None:
        body = _body(reply)
        summary, detail = str(body.get("summary", "")), str(body.get("detail", ""))
        kind = safe_code(body.get("type"), "")
        status = reply.status
        if status == 429:
            now = self._clock.now()
            quota = quota_from(reply.headers)
            found = _TRY_AGAIN.search(detail)
            wait = max([w for w in (retry_after(reply.headers, now), quota.reset_after if quota else None,
                                    int(found.group(1)) if found else None) if w is not None] or [60])
            raise ProviderRateLimited(f"GoCardless' limit for this account is used up; retry in {wait} s",
                                      retry_after=wait, remaining=quota.remaining if quota else 0)
        consent = ("End User Agreement" in summary or "EUA" in detail or kind in ("AccessExpiredError",
                                                                                 "AccountInactiveError"))
        if status in (401, 403) and consent:
            raise ProviderConsentExpired("the GoCardless end-user agreement has expired or was revoked")
        if status == 409:
            raise ProviderConsentExpired("GoCardless suspended the account link", code="account_suspended")
        if status >= 500:
            raise ProviderUnavailable(f"GoCardless or the bank failed ({status} {kind or 'error'})")
        if status == 401:
            raise ProviderRefused("GoCardless refused the application's token",
                                  code="application_unauthorized")
        if status == 402:
            raise ProviderRefused("GoCardless: the account's usage limit is reached", code="quota_exceeded")
        if status == 403 and "IP" in summary:
            raise ProviderRefused("GoCardless refused this server's IP address", code="ip_not_allowed")
        if status == 404:
            raise ProviderRefused("GoCardless does not know this resource", code="not_found")
        fields = [k for k in body if k not in ("summary", "detail", "status_code", "type")]
        code = f"invalid_{safe_code(fields[0])}" if fields else (kind or f"http_{status}")
        raise ProviderRefused(f"GoCardless refused the request ({status} {code})", code=code)


def _body(reply: Reply) -> dict[str, Any]:
    try:
        return obj(reply.json(_NAME))
    except ProviderBadResponse:
        return {}


def _token_failure(reply: Reply) -> bool:
    body = _body(reply)
    return "token" in str(body.get("summary", "")).lower() or "token" in str(body.get("detail", "")).lower()


def _conforms(connector: GoCardlessConnector) -> ProviderConnector:
    return connector  # mypy: the class implements the port
