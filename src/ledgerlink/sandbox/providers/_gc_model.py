"""GoCardless Bank Account Data simulator state: secrets and JWT-like tokens, institutions,
end-user agreements, requisitions, accounts, the per-account-and-scope daily limits, and the
API's JSON shapes (https://developer.gocardless.com/bank-account-data/)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ledgerlink.domain.clock import Clock, SystemClock
from ledgerlink.sandbox.providers._data import DailyBudget, SimAccount, SimLedger, SimTransaction, digest

__all__ = ["GcError", "GoCardlessConfig", "GoCardlessState", "SimInstitution", "default_gocardless_accounts"]


def default_gocardless_accounts() -> list[SimAccount]:
    return [
        SimAccount(key="gc-current", name="Main account", kind="checking", currency="EUR",
                   iban="NL91ABNA0417164300", opening=Decimal("2210.40")),
        SimAccount(key="gc-card", name="Credit card", kind="credit_card", currency="EUR",
                   iban="FR1420041010050500013M02606", opening=Decimal("-120.00")),
    ]


@dataclass(frozen=True, slots=True)
class SimInstitution:
    id: str
    name: str
    bic: str
    countries: tuple[str, ...]
    transaction_total_days: int = 540
    max_access_valid_for_days: int = 180


@dataclass(kw_only=True)
class GoCardlessConfig:
    public_url: str = "http://127.0.0.1:8012"
    seed: int = 23
    clock: Clock = field(default_factory=SystemClock)
    secrets: dict[str, str] = field(default_factory=dict)  # secret_id -> secret_key
    institutions: list[SimInstitution] = field(default_factory=lambda: [
        SimInstitution("SANDBOXFINANCE_SFIN0000", "Sandbox Finance", "SFIN0000", ("XX", "NL", "FR")),
        SimInstitution("SIMULATED_SIMUNL2A", "Simulated Bank NL", "SIMUNL2A", ("NL",), 730, 90)])
    accounts: list[SimAccount] = field(default_factory=default_gocardless_accounts)
    per_scope_per_day: int = 4  # successful reads a day per account and scope (details, balances...)
    access_ttl_seconds: int = 86400
    refresh_ttl_seconds: int = 30 * 86400


class GcError(Exception):
    """A GoCardless error body: {"summary", "detail", "status_code"} (+ "type" for some)."""

    def __init__(self, status: int, summary: str, detail: str, *, type_: str | None = None,
                 headers: dict[str, str] | None = None, body: dict[str, Any] | None = None) -> None:
        super().__init__(summary)
        self.status, self.headers = status, headers or {}
        self._body = body if body is not None else {
            "summary": summary, "detail": detail, "status_code": status}
        if type_ is not None and body is None:
            self._body["type"] = type_

    def body(self) -> dict[str, Any]:
        return self._body


@dataclass
class _Token:
    kind: str  # "access" | "refresh"
    secret_id: str
    expires_at: datetime


@dataclass
class Agreement:
    id: str
    created: datetime
    institution_id: str
    max_historical_days: int
    access_valid_for_days: int
    access_scope: list[str]
    secret_id: str
    accepted: datetime | None = None

    def expires_at(self) -> datetime | None:
        return None if self.accepted is None else self.accepted + timedelta(days=self.access_valid_for_days)


@dataclass
class Requisition:
    id: str
    created: datetime
    redirect: str
    institution_id: str
    agreement: Agreement
    reference: str
    user_language: str
    secret_id: str
    form_token: str
    status: str = "CR"
    accounts: dict[str, str] = field(default_factory=dict)  # GoCardless account id -> ledger key
    deleted: bool = False


class GoCardlessState:
    def __init__(self, config: GoCardlessConfig) -> None:
        self.config = config
        self.clock = config.clock
        self.ledger = SimLedger(seed=config.seed, clock=config.clock, accounts=config.accounts)
        self.budget = DailyBudget(config.per_scope_per_day, config.clock)
        self.tokens: dict[str, _Token] = {}
        self.agreements: dict[str, Agreement] = {}
        self.requisitions: dict[str, Requisition] = {}

    # ---------------------------------------------------------------- tokens

    def new_token(self, secret_id: object, secret_key: object) -> dict[str, Any]:
        if not isinstance(secret_id, str) or not isinstance(secret_key, str) \
                or secret_id not in self.config.secrets \
                or not secrets.compare_digest(self.config.secrets[secret_id], secret_key):
            raise GcError(401, "Authentication failed", "No active account found with the given credentials")
        return self._issue(secret_id, refresh=True)

    def refresh_token(self, refresh: object) -> dict[str, Any]:
        token = self.tokens.get(refresh) if isinstance(refresh, str) else None
        if token is None or token.kind != "refresh" or self.clock.now() >= token.expires_at:
            raise GcError(401, "Invalid token", "Token is invalid or expired")
        return self._issue(token.secret_id, refresh=False)

    def _issue(self, secret_id: str, *, refresh: bool) -> dict[str, Any]:
        now = self.clock.now()
        access = "sim-access-" + secrets.token_urlsafe(24)
        self.tokens[access] = _Token("access", secret_id,
                                     now + timedelta(seconds=self.config.access_ttl_seconds))
        out: dict[str, Any] = {"access": access, "access_expires": self.config.access_ttl_seconds}
        if refresh:
            value = "sim-refresh-" + secrets.token_urlsafe(24)
            self.tokens[value] = _Token("refresh", secret_id,
                                        now + timedelta(seconds=self.config.refresh_ttl_seconds))
            out |= {"refresh": value, "refresh_expires": self.config.refresh_ttl_seconds}
        return out

    def authenticate(self, authorization: str | None) -> str:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise GcError(401, "Authentication credentials were not provided.",
                          "Authentication credentials were not provided.")
        token = self.tokens.get(authorization[7:].strip())
        if token is None or token.kind != "access" or self.clock.now() >= token.expires_at:
            raise GcError(401, "Invalid token", "Token is invalid or expired")
        return token.secret_id

    # ---------------------------------------------------------------- institutions, consent

    def institution(self, institution_id: str) -> SimInstitution:
        for inst in self.config.institutions:
            if inst.id == institution_id:
                return inst
        raise GcError(404, "Not found.", "Not found.")

    def create_agreement(self, secret_id: str, body: dict[str, Any]) -> Agreement:
        inst_id = body.get("institution_id")
        inst = next((i for i in self.config.institutions if i.id == inst_id), None)
        if inst is None:
            raise GcError(400, "", "", body={"institution_id": {
                "summary": f"Unknown Institution ID {inst_id}",
                "detail": "Get Institution IDs from /institutions/?country={$COUNTRY_CODE}"},
                "status_code": 400})
        days = _int(body.get("access_valid_for_days"), 90)
        history = _int(body.get("max_historical_days"), 90)
        if not 1 <= days <= inst.max_access_valid_for_days:
            raise GcError(400, "", "", body={"access_valid_for_days": [{
                "summary": "Incorrect access_valid_for_days",
                "detail": f"access_valid_for_days must be > 0 and <= {inst.max_access_valid_for_days}"}],
                "status_code": 400})
        scope = body.get("access_scope") or ["balances", "details", "transactions"]
        if not isinstance(scope, list) or not set(scope) <= {"balances", "details", "transactions"}:
            raise GcError(400, "Unsupported access scope selected.",
                          "Choose balances, details, transactions.")
        agreement = Agreement(id=str(uuid.uuid4()), created=self.clock.now(), institution_id=inst.id,
                              max_historical_days=min(history, inst.transaction_total_days),
                              access_valid_for_days=days, access_scope=[str(s) for s in scope],
                              secret_id=secret_id)
        self.agreements[agreement.id] = agreement
        return agreement

    def agreement(self, secret_id: str, agreement_id: str) -> Agreement:
        agreement = self.agreements.get(agreement_id)
        if agreement is None or agreement.secret_id != secret_id:
            raise GcError(404, "Not found.", "Not found.")
        return agreement

    def create_requisition(self, secret_id: str, body: dict[str, Any]) -> Requisition:
        agreement = self.agreement(secret_id, str(body.get("agreement")))
        reference = body.get("reference")
        if not isinstance(reference, str) or not reference:
            reference = str(uuid.uuid4())
        if any(r.reference == reference and r.secret_id == secret_id for r in self.requisitions.values()):
            raise GcError(400, "", "", body={"reference": {
                "summary": "Client reference must be unique",
                "detail": f"Client reference '{reference}' already exists"}, "status_code": 400})
        redirect = body.get("redirect")
        if not isinstance(redirect, str) or not redirect.startswith(("http://", "https://")):
            raise GcError(400, "", "", body={
                "redirect": {"summary": "Invalid redirect", "detail": "Enter a valid URL."},
                "status_code": 400})
        if body.get("institution_id") != agreement.institution_id:
            raise GcError(400, "Institution ID mismatch",
                          "The institution_id of the requisition differs from its agreement's")
        requisition = Requisition(
            id=str(uuid.uuid4()), created=self.clock.now(), redirect=redirect,
            institution_id=agreement.institution_id, agreement=agreement, reference=reference,
            user_language=str(body.get("user_language") or "EN"), secret_id=secret_id,
            form_token=secrets.token_urlsafe(16))
        self.requisitions[requisition.id] = requisition
        return requisition

    def requisition(self, secret_id: str, requisition_id: str) -> Requisition:
        requisition = self.requisitions.get(requisition_id)
        if requisition is None or requisition.deleted or requisition.secret_id != secret_id:
            raise GcError(404, "Not found.", "Not found.")
        return requisition

    def requisition_status(self, requisition: Requisition) -> str:
        expires = requisition.agreement.expires_at()
        if requisition.status == "LN" and expires is not None and self.clock.now() >= expires:
            return "EX"
        return requisition.status

    def decide(self, requisition_id: str, form_token: str, approve: bool) -> Requisition:
        requisition = self.requisitions.get(requisition_id)
        if requisition is None or requisition.deleted or requisition.status != "CR" \
                or not secrets.compare_digest(requisition.form_token, form_token):
            raise GcError(400, "Invalid requisition", "This link is unknown or was used")
        if not approve:
            requisition.status = "RJ"
            return requisition
        requisition.status = "LN"
        requisition.agreement.accepted = self.clock.now()
        requisition.accounts = {str(uuid.UUID(digest(requisition.id, a.key)[:32])): a.key
                                for a in self.ledger.accounts()}
        return requisition

    # ---------------------------------------------------------------- accounts

    def account(self, secret_id: str, account_id: str) -> tuple[Requisition, SimAccount]:
        for requisition in self.requisitions.values():
            if account_id in requisition.accounts and requisition.secret_id == secret_id:
                if requisition.deleted:
                    break
                return requisition, self.ledger.account(requisition.accounts[account_id])
        raise GcError(404, "Not found.", "Not found.")

    def check_access(self, requisition: Requisition, account_id: str, scope: str) -> dict[str, str]:
        """Consent and limits for one read; returns the rate-limit headers of the answer."""
        agreement = requisition.agreement
        expires = agreement.expires_at()
        if expires is not None and self.clock.now() >= expires:
            raise GcError(401, f"End User Agreement (EUA) {agreement.id} has expired",
                          f"EUA was valid for {agreement.access_valid_for_days} days and it expired at "
                          f"{expires.isoformat()}. The end user must connect the account once more with "
                          "new EUA and Requisition")
        if scope not in agreement.access_scope:
            raise GcError(403, "Access scope not granted",
                          f"The End User Agreement does not include the {scope} scope")
        key = (account_id, scope)
        limit, reset = self.budget.limit, self.budget.reset_after()
        used = self.budget.used(key)
        if used >= limit:
            headers = _limit_headers(limit, 0, reset) | {"retry-after": str(reset)}
            raise GcError(429, "Rate limit exceeded",
                          f"The rate limit for this resource is {limit}/day. "
                          f"Please try again in {reset} seconds",
                          headers=headers)
        self.budget.take(key)
        return _limit_headers(limit, limit - used - 1, reset)

    def transaction(self, txn: SimTransaction, now: datetime, currency: str) -> dict[str, Any]:
        pending = txn.is_pending(now)
        row: dict[str, Any] = {
            # GoCardless's own id: pending and booked entries of one purchase get different ones.
            "internalTransactionId": digest("internal", txn.ref, pending)[:32],
            "valueDate": (txn.transacted_at if pending else txn.posted_at).date().isoformat(),
            "transactionAmount": {"amount": str(txn.amount), "currency": currency},
            "remittanceInformationUnstructured": f"{txn.memo} {txn.counterparty}".strip(),
        }
        row["creditorName" if txn.amount < 0 else "debtorName"] = txn.counterparty
        if not pending:  # the bank's id and booking date only once booked
            row |= {"transactionId": txn.ref[:24].upper(), "entryReference": txn.ref[24:40],
                    "bookingDate": txn.posted_at.date().isoformat(),
                    "bookingDateTime": txn.posted_at.isoformat().replace("+00:00", "Z"),
                    "bankTransactionCode": "PMNT-ICDT-STDO" if txn.amount > 0 else "PMNT-CCRD-POSD",
                    "proprietaryBankTransactionCode": "CARD" if txn.mcc else "TRANSFER"}
        if txn.mcc:
            row["merchantCategoryCode"] = txn.mcc
        return row


def _limit_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {"http_x_ratelimit_limit": "100", "http_x_ratelimit_remaining": "99",
            "http_x_ratelimit_reset": "60",
            "http_x_ratelimit_account_success_limit": str(limit),
            "http_x_ratelimit_account_success_remaining": str(max(0, remaining)),
            "http_x_ratelimit_account_success_reset": str(reset)}


def _int(value: object, default: int) -> int:
    if value is None:
        return default
    try:
        return int(str(value))
    except ValueError:
        return -1
