"""A SimpleFIN Bridge simulator (https://www.simplefin.org/protocol.html, protocol v2).

- `GET /simplefin/info`, `GET /simplefin/create` (a labelled page handing out a setup token),
  `POST /simplefin/claim/{token}`, `GET /simplefin/accounts`.
- A setup token is the base64 of its claim URL. The first POST answers the Access URL
  (``http://USER:PASS@host/simplefin``) as text; a second one answers 403, as the protocol
  says ("does not exist or has already been claimed": it may be compromised).
- `/accounts` takes HTTP Basic credentials (403 when wrong or disabled) and `start-date`,
  `end-date` (Unix epoch; end exclusive), `pending=1`, `account=` (repeatable),
  `balances-only=1`. The answer is an Account Set: `errlist` (structured errors), the
  deprecated `errors` strings, `connections`, `accounts` with `id`, `name`, `conn_id`,
  `currency`, `balance`, `available-balance`, `balance-date` and `transactions` (`id`,
  `posted`, `amount`, `description`, `payee`, `memo`, `transacted_at`, `pending`).
- Ids: account ids are the Bridge's (stable for every Access URL of the same user). A pending
  transaction has its own id; when it posts it comes back with a **new** id and nothing links
  the two (that is what the Bridge does), and the pending one is no longer listed.
- Quota: the Bridge asks for at most 24 requests a day, "a little leeway above". Requests 25
  to 24 + leeway answer normally with a `gen.` warning in `errlist`; past that the simulator
  answers 429 with Retry-After until the next UTC day (what the real Bridge does then is not
  published; the simulator refuses so clients must back off).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ledgerlink.domain.clock import Clock, SystemClock
from ledgerlink.sandbox.providers._data import DailyBudget, SimAccount, SimLedger, SimTransaction, digest
from ledgerlink.sandbox.providers._pages import plain_page

__all__ = ["SimpleFinBridge", "SimpleFinConfig", "create_simplefin_app", "default_simplefin_accounts"]


def default_simplefin_accounts() -> list[SimAccount]:
    return [
        SimAccount(key="sf-checking", name="Everyday Checking 4321", kind="checking", currency="USD",
                   iban="", opening=Decimal("1820.55")),
        SimAccount(key="sf-card", name="Rewards Visa 9876", kind="credit_card", currency="USD",
                   iban="", opening=Decimal("-310.20")),
    ]


@dataclass(kw_only=True)
class SimpleFinConfig:
    public_url: str = "http://127.0.0.1:8010"
    seed: int = 7
    clock: Clock = field(default_factory=SystemClock)
    accounts: list[SimAccount] = field(default_factory=default_simplefin_accounts)
    daily_quota: int = 24
    quota_leeway: int = 6
    org_name: str = "Simulated Credit Union"


@dataclass
class _Access:
    username: str
    password: str
    disabled: bool = False


class SimpleFinBridge:
    """The simulator's state. Test hooks: `issue_setup_token`, `disable_access`,
    `inject_error`, and `ledger.add` for a purchase that posts later."""

    def __init__(self, config: SimpleFinConfig) -> None:
        self.config = config
        self.ledger = SimLedger(seed=config.seed, clock=config.clock, accounts=config.accounts)
        self.budget = DailyBudget(config.daily_quota, config.clock)
        self._tokens: dict[str, bool] = {}  # claim token -> claimed
        self._access: dict[str, _Access] = {}  # username -> credentials
        self._errors: list[dict[str, str]] = []
        self.conn_id = "CON-" + digest(config.seed, "connection")[:24]

    @property
    def base(self) -> str:
        return self.config.public_url.rstrip("/") + "/simplefin"

    def issue_setup_token(self) -> str:
        token = secrets.token_urlsafe(24)
        self._tokens[token] = False
        return base64.b64encode(f"{self.base}/claim/{token}".encode()).decode("ascii")

    def claim(self, token: str) -> str | None:
        if self._tokens.get(token, True):  # unknown or already claimed
            return None
        self._tokens[token] = True
        access = _Access(username=secrets.token_hex(8), password=secrets.token_urlsafe(18))
        self._access[access.username] = access
        parts = urlsplit(self.base)
        return f"{parts.scheme}://{access.username}:{access.password}@{parts.netloc}{parts.path}"

    def disable_access(self) -> None:
        """The person disabled every Access URL at the Bridge."""
        for access in self._access.values():
            access.disabled = True

    def inject_error(self, code: str, msg: str, *, account_key: str | None = None) -> None:
        item = {"code": code, "msg": msg}
        if code.startswith("con."):
            item["conn_id"] = self.conn_id
        if account_key is not None:
            item["account_id"] = self.account_id(account_key)
        self._errors.append(item)

    def clear_errors(self) -> None:
        self._errors.clear()

    def authenticate(self, request: Request) -> _Access | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        access = self._access.get(user)
        if access is None or access.disabled or not secrets.compare_digest(access.password, password):
            return None
        return access

    def account_id(self, key: str) -> str:
        return "ACT-" + digest(self.config.seed, "account", key)[:32]

    def transaction_id(self, txn: SimTransaction, *, pending: bool) -> str:
        # The Bridge gives a posted transaction a new id: nothing links it to the pending one.
        return "TRN-" + digest(txn.ref, "pending" if pending else "posted")[:32]

    def errors_for(self, account_ids: set[str]) -> list[dict[str, str]]:
        return [e for e in self._errors if "account_id" not in e or e["account_id"] in account_ids]


def _epoch(value: datetime) -> int:
    return int(value.astimezone(UTC).timestamp())


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        return -1


def create_simplefin_app(config: SimpleFinConfig) -> FastAPI:
    """Build the app; `app.state.bridge` is the `SimpleFinBridge`."""
    bridge = SimpleFinBridge(config)

    app = FastAPI(title="SimpleFIN Bridge (simulator)", docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.state.bridge = bridge

    @app.get("/simplefin/info")
    async def info() -> dict[str, Any]:
        return {"versions": ["1.0", "2.0"]}

    @app.get("/simplefin/create")
    async def create() -> Response:
        return plain_page("SimpleFIN Bridge (simulated)", [
            "This is the SimpleFIN simulator's stand-in for the Bridge's token page.",
            "Copy this setup token and paste it where the application asks for it. "
            "It can be claimed once."], code=bridge.issue_setup_token())

    @app.post("/simplefin/claim/{token}")
    async def claim(token: str) -> Response:
        access_url = bridge.claim(token)
        if access_url is None:
            return PlainTextResponse("Forbidden", status_code=403)
        return PlainTextResponse(access_url, headers={"cache-control": "no-store"})

    @app.get("/simplefin/accounts")
    async def accounts(request: Request) -> Response:
        access = bridge.authenticate(request)
        if access is None:
            return PlainTextResponse("Forbidden", status_code=403,
                                     headers={"www-authenticate": 'Basic realm="simplefin"'})
        used = bridge.budget.take(("access", access.username))
        limit = config.daily_quota
        if used > limit + config.quota_leeway:
            retry = bridge.budget.reset_after()
            msg = (f"Daily request quota exceeded ({limit} a day). Try again after the quota "
                   "is replenished.")
            return JSONResponse({"errlist": [{"code": "gen.", "msg": msg}], "errors": [msg],
                                 "connections": [], "accounts": []}, status_code=429,
                                headers={"retry-after": str(retry)})
        return JSONResponse(_account_set(bridge, request, used=used))

    return app


def _account_set(bridge: SimpleFinBridge, request: Request, *, used: int) -> dict[str, Any]:
    config = bridge.config
    now = config.clock.now()
    start, end = _int_param(request, "start-date"), _int_param(request, "end-date")
    errlist: list[dict[str, str]] = []
    if (start is not None and start < 0) or (end is not None and end < 0):
        errlist.append({"code": "gen.api", "msg": "start-date and end-date must be Unix epoch seconds"})
        start = end = None
    pending = request.query_params.get("pending") == "1"
    balances_only = request.query_params.get("balances-only") == "1"
    wanted = set(request.query_params.getlist("account"))
    out = []
    for account in bridge.ledger.accounts():
        account_id = bridge.account_id(account.key)
        if wanted and account_id not in wanted:
            continue
        booked, available = bridge.ledger.balance(account.key, now=now)
        row: dict[str, Any] = {
            "id": account_id, "name": account.name, "conn_id": bridge.conn_id,
            "currency": account.currency, "balance": str(booked), "available-balance": str(available),
            "balance-date": _epoch(now), "transactions": [], "holdings": []}
        if not balances_only:
            row["transactions"] = [_transaction(bridge, t, now) for t in
                                   bridge.ledger.transactions(account.key, now=now)
                                   if _in_window(t, now, start, end, pending)]
        out.append(row)
    errlist.extend(bridge.errors_for({a["id"] for a in out}))
    if used > config.daily_quota:
        errlist.append({"code": "gen.", "msg": (
            f"You have made {used} requests today; SimpleFIN expects at most "
            f"{config.daily_quota} a day. Further requests may be refused.")})
    return {"errlist": errlist, "errors": [e["msg"] for e in errlist],
            "connections": [{"conn_id": bridge.conn_id, "name": config.org_name,
                             "org_id": "ORG-" + digest(config.seed, "org")[:16],
                             "org_url": "https://credit-union.example",
                             "sfin_url": bridge.base}],
            "accounts": out}


def _in_window(txn: SimTransaction, now: datetime, start: int | None, end: int | None,
               pending: bool) -> bool:
    is_pending = txn.is_pending(now)
    if is_pending and not pending:
        return False
    at = _epoch(txn.transacted_at if is_pending else txn.posted_at)
    return (start is None or at >= start) and (end is None or at < end)


def _transaction(bridge: SimpleFinBridge, txn: SimTransaction, now: datetime) -> dict[str, Any]:
    is_pending = txn.is_pending(now)
    row: dict[str, Any] = {
        "id": bridge.transaction_id(txn, pending=is_pending),
        "posted": 0 if is_pending else _epoch(txn.posted_at),
        "amount": str(txn.amount),
        "description": f"{txn.counterparty.upper()} {txn.memo}".strip(),
        "payee": txn.counterparty,
        "memo": txn.memo,
        "transacted_at": _epoch(txn.transacted_at),
    }
    if is_pending:
        row["pending"] = True
    return row
