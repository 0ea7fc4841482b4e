"""SimpleFIN Bridge connector (https://www.simplefin.org/protocol.html), a `ProviderConnector`.

Linking: the person gets a setup token at the Bridge (`LinkStart.redirect_url` is its
``/create`` page) and pastes it. The token is the base64 of a claim URL; one POST to it
answers the Access URL, ``https://USER:PASS@host/path``. A 403 means the token does not
exist or was claimed already (`SetupTokenRejected`: it may be compromised). The claim URL and
the Access URL must be https on an allowed host (default: the configured Bridge's), so a
pasted token cannot point us at an internal address.

The credential blob holds the Access URL split into base URL and Basic credentials; they go
to httpx as `BasicAuth`, never inside a URL, so no log line or error can show them.

Every read is one ``GET {access}/accounts`` (``version=2``): `accounts` and `balance` with
``balances-only=1``, `transactions` with ``start-date`` (epoch) and ``pending=1``, filtered
to one ``account``. The Bridge asks for at most 24 requests a day; its `errlist` (and the
older `errors`) come back as `ProviderNotice`s. There is no revoke call: the person disables
the token at the Bridge; `revoke` only makes the platform forget it.

Ids: SimpleFIN's account `id` and transaction `id`. A posted transaction has a new id; the
pending one just stops being listed (the Bridge links nothing).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ledgerlink.adapters.banks._providers import (
    Reply,
    check_url,
    decode_blob,
    encode_blob,
    ident,
    money,
    retry_after,
    safe_code,
    send,
    text,
    to_utc_midnight,
)
from ledgerlink.domain.banking import AccountType, BankTransaction, Scope, TransactionStatus
from ledgerlink.domain.clock import Clock
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.money import CURRENCIES
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
    ProviderNotice,
    ProviderRateLimited,
    ProviderRefused,
    ProviderTransactions,
    ProviderUnavailable,
    PsuPresence,
    SetupTokenRejected,
)

__all__ = ["DEFAULT_BRIDGE_URL", "SimpleFinConnector"]

DEFAULT_BRIDGE_URL = "https://beta-bridge.simplefin.org/simplefin"
_NAME = "SimpleFIN"
_MAX_TOKEN = 2048
_LAST4 = re.compile(r"(\d{4})\D*$")
_COMPROMISED = ("SimpleFIN refused this setup token: it does not exist or it was claimed already. "
                "If you did not use it yourself, someone else may have: disable it at the SimpleFIN "
                "Bridge and create a new one.")


class SimpleFinConnector:
    provider = "simplefin"
    link_kind = LinkKind.SETUP_TOKEN

    def __init__(self, *, http: httpx.AsyncClient, clock: Clock, bridge_url: str = DEFAULT_BRIDGE_URL,
                 allowed_hosts: Sequence[str] = (), allow_insecure_loopback: bool = False) -> None:
        self._http = http
        self._clock = clock
        self._insecure = allow_insecure_loopback
        self._bridge = check_url(bridge_url.rstrip("/"), allow_insecure_loopback=allow_insecure_loopback,
                                 what="the SimpleFIN Bridge URL")
        self._hosts = {h.lower() for h in allowed_hosts} | {(urlsplit(self._bridge).hostname or "").lower()}

    # ------------------------------------------------------------------ linking

    async def institutions(self, *, country: str) -> list[Institution]:
        return []  # the person chooses banks at the Bridge

    async def start_link(self, *, state: str, redirect_url: str, institution_id: str | None,
                         scopes: Sequence[Scope], valid_for: timedelta) -> LinkStart:
        return LinkStart(kind=LinkKind.SETUP_TOKEN, redirect_url=f"{self._bridge}/create",
                         pending=encode_blob(self.provider, {"state": state}), expires_at=None)

    async def finish_link(self, *, pending: bytes, answer: Mapping[str, str]) -> ProviderLink:
        decode_blob(self.provider, pending, "link in progress")
        claim_url = self._claim_url(answer.get("setup_token", ""))
        reply = await send(self._http, "POST", claim_url, provider=_NAME, content=b"",
                           headers={"content-length": "0"})
        if reply.status == 403:
            raise SetupTokenRejected(_COMPROMISED)
        if reply.status >= 500 or reply.status == 429:
            raise ProviderUnavailable(f"SimpleFIN answered {reply.status} to the claim; the token was "
                                      "not used, try again later")
        if reply.status != 200:
            raise ProviderRefused(f"SimpleFIN refused the claim ({reply.status})",
                                  code=f"claim_{reply.status}")
        credential = self._credential(reply.body)
        notices: list[ProviderNotice] = []
        try:
            accounts = await self.accounts(credential=credential)
        except (ProviderUnavailable, ProviderBadResponse) as exc:
            # The token is spent: never lose the Access URL because the first read failed.
            accounts = []
            notices.append(ProviderNotice(code="accounts_pending", message=(
                f"Linked; the accounts could not be read yet ({exc.code}). They follow at the next "
                "refresh.")))
        return ProviderLink(credential=credential, valid_until=None, accounts=tuple(accounts),
                            scopes=(Scope.BALANCES, Scope.TRANSACTIONS), notices=tuple(notices))

    def _claim_url(self, token: str) -> str:
        token = "".join(token.split())
        if not token or len(token) > _MAX_TOKEN:
            raise InvalidInput("paste the whole SimpleFIN setup token", code="setup_token_malformed")
        try:
            token = token.replace("-", "+").replace("_", "/").rstrip("=")
            raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
            url = raw.decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise InvalidInput("this is not a SimpleFIN setup token (not base64 of a URL)",
                               code="setup_token_malformed") from None
        return self._allowed(url, "the setup token's claim URL")

    def _allowed(self, url: str, what: str) -> str:
        check_url(url, allow_insecure_loopback=self._insecure, what=what)
        if (urlsplit(url).hostname or "").lower() not in self._hosts:
            raise InvalidInput(f"{what} points to a host that is not an allowed SimpleFIN server",
                               code="setup_token_host")
        return url

    def _credential(self, body: bytes) -> bytes:
        try:
            access = body.decode("utf-8").strip()
            parts = urlsplit(access)
            user, password, host = parts.username, parts.password, parts.hostname
        except (UnicodeDecodeError, ValueError):
            raise ProviderBadResponse("SimpleFIN's claim answer is not an Access URL") from None
        if not user or password is None or not host or len(access) > _MAX_TOKEN:
            raise ProviderBadResponse("SimpleFIN's claim answer is not an Access URL with credentials")
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        if ":" in host:
            netloc = f"[{host}]" if parts.port is None else f"[{host}]:{parts.port}"
        base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self._allowed(base, "SimpleFIN's Access URL")
        return encode_blob(self.provider, {"base": base, "user": user, "password": password})

    # ------------------------------------------------------------------ data

    async def accounts(self, *, credential: bytes) -> list[ProviderAccount]:
        data, _ = await self._get(credential, [("balances-only", "1")])
        return [a for a, _ in self._accounts(data)]

    async def balance(self, *, credential: bytes, account_id: str,
                      psu: PsuPresence | None = None) -> ProviderBalance:
        data, notices = await self._get(credential, [("balances-only", "1"), ("account", account_id)])
        return self._balance(self._one(data, account_id, notices))

    async def transactions(self, *, credential: bytes, account_id: str, since: date,
                           psu: PsuPresence | None = None) -> ProviderTransactions:
        data, notices = await self._get(credential, [("start-date", _epoch(since)), ("pending", "1"),
                                                     ("account", account_id)])
        return self._page(self._one(data, account_id, notices), account_id, notices)

    async def transactions_many(self, *, credential: bytes, account_ids: Sequence[str], since: date,
                                psu: PsuPresence | None = None
                                ) -> dict[str, ProviderTransactions | ProviderError]:
        params = [("start-date", _epoch(since)), ("pending", "1")] + [("account", a) for a in account_ids]
        data, notices = await self._get(credential, params)
        out: dict[str, ProviderTransactions | ProviderError] = {}
        for account_id in account_ids:
            try:
                out[account_id] = self._page(self._one(data, account_id, notices), account_id, notices)
            except (ProviderRefused, ProviderBadResponse) as exc:
                out[account_id] = exc
        return out

    def _page(self, row: Mapping[str, Any], account_id: str,
              notices: Sequence[ProviderNotice]) -> ProviderTransactions:
        raw = row.get("transactions") or []
        if not isinstance(raw, list):
            raise ProviderBadResponse("SimpleFIN: accounts[].transactions is not a list")
        booked: list[BankTransaction] = []
        pending: list[BankTransaction] = []
        for i, item in enumerate(raw):
            txn = self._transaction(item, account_id, str(row.get("currency", "")).upper(), i)
            (pending if txn.status is TransactionStatus.PENDING else booked).append(txn)
        mine = tuple(n for n in notices if n.account_id in (None, account_id))
        return ProviderTransactions(account_id=account_id, booked=tuple(booked), pending=tuple(pending),
                                    balance=self._balance(row), notices=mine)

    async def revoke(self, *, credential: bytes) -> None:
        decode_blob(self.provider, credential)  # nothing to call: the person disables it at the Bridge

    # ------------------------------------------------------------------ internals

    async def _get(self, credential: bytes, params: Sequence[tuple[str, str]]
                   ) -> tuple[dict[str, Any], list[ProviderNotice]]:
        blob = decode_blob(self.provider, credential)
        base = self._allowed(str(blob.get("base", "")), "the stored SimpleFIN Access URL")
        auth = httpx.BasicAuth(str(blob.get("user", "")), str(blob.get("password", "")))
        reply = await send(self._http, "GET", f"{base}/accounts", provider=_NAME, auth=auth,
                           params=[("version", "2"), *params], headers={"accept": "application/json"})
        self._raise_for(reply)
        data = reply.json(_NAME)
        if not isinstance(data, dict) or not isinstance(data.get("accounts"), list):
            raise ProviderBadResponse("SimpleFIN's answer is not an Account Set")
        return data, list(self._notices(data))

    def _raise_for(self, reply: Reply) -> None:
        if reply.status == 200:
            return
        if reply.status == 403:
            raise ProviderConsentExpired("SimpleFIN refused the stored access: it was disabled at the "
                                         "Bridge (or is wrong). Link again with a new setup token.")
        if reply.status == 402:
            raise ProviderRefused("SimpleFIN says the Bridge subscription needs payment",
                                  code="payment_required")
        if reply.status == 429:
            wait = retry_after(reply.headers, self._clock.now()) or to_utc_midnight(self._clock.now())
            raise ProviderRateLimited(f"SimpleFIN's daily request quota is used up; retry in {wait} s",
                                      retry_after=wait, remaining=0)
        if reply.status >= 500:
            raise ProviderUnavailable(f"SimpleFIN answered {reply.status}")
        raise ProviderRefused(f"SimpleFIN refused the request ({reply.status})", code=f"http_{reply.status}")

    def _notices(self, data: Mapping[str, Any]) -> Iterable[ProviderNotice]:
        errlist = data.get("errlist")
        if isinstance(errlist, list):
            for item in errlist[:50]:
                if isinstance(item, dict):
                    msg = item.get("msg", item.get("message"))
                    account = item.get("account_id")
                    yield ProviderNotice(code=safe_code(item.get("code"), "gen."),
                                         message=text(msg if isinstance(msg, str) else "", "errlist[].msg",
                                                      limit=300, default="SimpleFIN reported a problem"),
                                         account_id=account if isinstance(account, str) else None)
            return
        for msg in (data.get("errors") or [])[:50]:
            if isinstance(msg, str):
                yield ProviderNotice(code="gen.", message=text(msg, "errors[]", limit=300,
                                                               default="SimpleFIN reported a problem"))

    def _accounts(self, data: Mapping[str, Any]) -> Iterable[tuple[ProviderAccount, dict[str, Any]]]:
        names = {c.get("conn_id"): c.get("name") for c in data.get("connections") or []
                 if isinstance(c, dict)}
        for row in data["accounts"]:
            if not isinstance(row, dict):
                raise ProviderBadResponse("SimpleFIN: accounts[] holds a non-object")
            currency = str(row.get("currency", "")).upper()
            if currency not in CURRENCIES:
                continue  # a custom currency (points, miles): not money we can store
            name = text(row.get("name"), "accounts[].name", default="Account")
            org_field = row.get("org")
            org: dict[str, Any] = org_field if isinstance(org_field, dict) else {}
            institution = names.get(row.get("conn_id")) or org.get("name") or org.get("domain")
            found = _LAST4.search(name)
            yield ProviderAccount(
                account_id=ident(row.get("id"), "accounts[].id"), name=name, type=_kind(name),
                currency=currency, last4=found.group(1) if found else "",
                institution=text(institution, "connections[].name") or None), row

    def _one(self, data: Mapping[str, Any], account_id: str, notices: list[ProviderNotice]) -> dict[str, Any]:
        for account, row in self._accounts(data):
            if account.account_id == account_id:
                return row
        blame = next((n for n in notices if n.account_id == account_id), None) or next(
            (n for n in notices if n.code.startswith(("con.", "act."))), None)
        if blame is not None:
            raise ProviderRefused(f"SimpleFIN could not read the account: {blame.message}", code=blame.code)
        raise ProviderRefused("SimpleFIN no longer lists this account", code="account_missing")

    def _balance(self, row: Mapping[str, Any]) -> ProviderBalance:
        currency = str(row.get("currency", "")).upper()
        current = money(row.get("balance"), currency, "accounts[].balance")
        available = row.get("available-balance")
        return ProviderBalance(
            account_id=ident(row.get("id"), "accounts[].id"), current=current,
            available=money(available, currency, "accounts[].available-balance") if available is not None
            else None, as_of=_instant(row.get("balance-date"), "accounts[].balance-date"))

    def _transaction(self, item: object, account_id: str, currency: str, i: int) -> BankTransaction:
        if not isinstance(item, dict):
            raise ProviderBadResponse(f"SimpleFIN: transactions[{i}] is not an object")
        where = f"transactions[{i}]"
        posted = item.get("posted")
        pending = item.get("pending") is True or posted == 0
        transacted = item.get("transacted_at")
        payee = text(item.get("payee"), f"{where}.payee") or None
        mcc = item.get("mcc")
        return BankTransaction(
            bank_transaction_id=ident(item.get("id"), f"{where}.id"), bank_account_id=account_id,
            status=TransactionStatus.PENDING if pending else TransactionStatus.POSTED,
            amount=money(item.get("amount"), currency, f"{where}.amount"),
            booking_date=None if pending else _instant(posted, f"{where}.posted").date(),
            value_date=_instant(transacted, f"{where}.transacted_at").date() if transacted else None,
            merchant=payee, descriptor=text(item.get("description"), f"{where}.description",
                                            default=payee or "Transaction"),
            mcc=mcc if isinstance(mcc, str) and mcc.isdigit() and len(mcc) == 4 else None)


def _epoch(day: date) -> str:
    return str(int(datetime.combine(day, time(), UTC).timestamp()))


def _instant(value: object, where: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**33:
        raise ProviderBadResponse(f"SimpleFIN: {where} is not a Unix timestamp")
    return datetime.fromtimestamp(value, UTC)



def _kind(name: str) -> AccountType:
    lowered = name.lower()
    for words, kind in ((("card", "visa", "mastercard", "amex", "credit"), AccountType.CREDIT_CARD),
                        (("saving",), AccountType.SAVINGS), (("loan", "mortgage"), AccountType.LOAN),
                        (("checking", "chequing", "current"), AccountType.CHECKING)):
        if any(w in lowered for w in words):
            return kind
    return AccountType.OTHER



def _conforms(connector: SimpleFinConnector) -> ProviderConnector:
    return connector  # mypy: the class implements the port
