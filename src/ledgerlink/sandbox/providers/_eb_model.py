"""Enable Banking simulator state: applications and their JWTs, ASPSPs, authorizations,
sessions, and the API's JSON shapes (https://enablebanking.com/docs/api/reference/)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from ledgerlink.domain.clock import Clock, SystemClock
from ledgerlink.sandbox.providers._data import DailyBudget, SimAccount, SimLedger, SimTransaction, digest

__all__ = ["Aspsp", "EbError", "EbSession", "EnableBankingConfig", "EnableBankingState",
           "default_enablebanking_accounts"]

JWT_ISSUER = "enablebanking.com"
JWT_AUDIENCE = "api.enablebanking.com"
MAX_JWT_TTL = 86400  # Enable Banking refuses application JWTs valid for longer than a day


def default_enablebanking_accounts() -> list[SimAccount]:
    return [
        SimAccount(key="eb-current", name="Current account", kind="checking", currency="EUR",
                   iban="FI2112345600000785", opening=Decimal("1543.10")),
        SimAccount(key="eb-savings", name="Savings account", kind="savings", currency="EUR",
                   iban="DE89370400440532013000", opening=Decimal("8000.00")),
    ]


@dataclass(frozen=True, slots=True)
class Aspsp:
    name: str
    country: str
    bic: str
    maximum_consent_validity: int = 180 * 86400  # seconds


@dataclass(kw_only=True)
class EnableBankingConfig:
    public_url: str = "http://127.0.0.1:8011"
    seed: int = 11
    clock: Clock = field(default_factory=SystemClock)
    applications: dict[str, bytes] = field(default_factory=dict)  # application id -> public key PEM
    redirect_urls: list[str] = field(default_factory=list)  # registered for every application
    aspsps: list[Aspsp] = field(default_factory=lambda: [
        Aspsp("Simulated Bank", "FI", "SIMUFIHH"), Aspsp("Simulated Sparkasse", "DE", "SIMUDEFF")])
    accounts: list[SimAccount] = field(default_factory=default_enablebanking_accounts)
    unattended_per_day: int = 4  # PSD2: reads a day per account and scope without the PSU
    page_size: int = 10
    authorization_ttl_seconds: int = 900


class EbError(Exception):
    """An Enable Banking ErrorResponse: {"code": status, "message", "error", "detail"}."""

    def __init__(self, status: int, error: str, message: str, *, detail: Any = None,
                 retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.detail, self.retry_after = detail, retry_after

    def body(self) -> dict[str, Any]:
        return {"code": self.status, "message": self.message, "error": self.error, "detail": self.detail}


@dataclass
class _Authorization:
    id: str
    application: str
    aspsp: Aspsp
    state: str
    redirect_url: str
    valid_until: datetime
    psu_type: str
    balances: bool
    transactions: bool
    form_token: str
    expires_at: datetime
    code: str | None = None
    used: bool = False


@dataclass
class EbSession:
    id: str
    application: str
    aspsp: Aspsp
    psu_type: str
    valid_until: datetime
    created: datetime
    balances: bool
    transactions: bool
    uids: dict[str, str]  # account uid (this session only) -> ledger account key
    closed: datetime | None = None

    def status(self, now: datetime) -> str:
        if self.closed is not None:
            return "CLOSED"
        return "EXPIRED" if now >= self.valid_until else "AUTHORIZED"


class EnableBankingState:
    def __init__(self, config: EnableBankingConfig) -> None:
        self.config = config
        self.clock = config.clock
        self.ledger = SimLedger(seed=config.seed, clock=config.clock, accounts=config.accounts)
        self.budget = DailyBudget(config.unattended_per_day, config.clock)
        self.authorizations: dict[str, _Authorization] = {}
        self.sessions: dict[str, EbSession] = {}
        self.continuations: dict[str, tuple[str, str, int, str]] = {}  # key -> session, uid, offset, query
        self._keys = {app: RSAKey.import_key(pem) for app, pem in config.applications.items()}

    # ---------------------------------------------------------------- application JWT

    def application_for(self, authorization: str | None) -> str:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise EbError(401, "UNAUTHORIZED", "Authorization header with a Bearer JWT is required")
        token = authorization[7:].strip()
        try:
            header = jws.extract_compact(token.encode("ascii")).headers()
        except (JoseError, ValueError, UnicodeError):
            raise EbError(401, "UNAUTHORIZED", "The JWT cannot be read") from None
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise EbError(401, "UNAUTHORIZED", "Unknown application (kid)")
        try:
            claims = jwt.decode(token, key, algorithms=["RS256"]).claims
            now = int(self.clock.now().timestamp())
            jwt.JWTClaimsRegistry(now=now, leeway=30, iss={"essential": True, "value": JWT_ISSUER},
                                  aud={"essential": True, "value": JWT_AUDIENCE},
                                  iat={"essential": True}, exp={"essential": True}).validate(claims)
        except (JoseError, ValueError):
            raise EbError(401, "UNAUTHORIZED", "The JWT is invalid or expired") from None
        if int(claims["exp"]) - int(claims["iat"]) > MAX_JWT_TTL:
            raise EbError(401, "UNAUTHORIZED", "The JWT may be valid for at most 86400 seconds")
        return str(kid)

    # ---------------------------------------------------------------- authorization

    def aspsp(self, name: str, country: str) -> Aspsp:
        for a in self.config.aspsps:
            if a.name == name and a.country == country:
                return a
        raise EbError(404, "ASPSP_NOT_FOUND", f"ASPSP {name!r} in {country!r} is not available")

    def start(self, application: str, body: dict[str, Any]) -> dict[str, Any]:
        access, aspsp_ref = body.get("access"), body.get("aspsp")
        if not isinstance(access, dict) or not isinstance(aspsp_ref, dict):
            raise EbError(422, "WRONG_REQUEST_PARAMETERS", "access and aspsp are required")
        aspsp = self.aspsp(str(aspsp_ref.get("name")), str(aspsp_ref.get("country")))
        try:
            valid_until = datetime.fromisoformat(str(access.get("valid_until")))
        except ValueError:
            raise EbError(422, "WRONG_REQUEST_PARAMETERS", "access.valid_until must be a date-time") from None
        if valid_until.tzinfo is None:
            raise EbError(422, "WRONG_REQUEST_PARAMETERS", "access.valid_until needs a time zone")
        now = self.clock.now()
        if valid_until <= now or valid_until > now + timedelta(seconds=aspsp.maximum_consent_validity):
            raise EbError(422, "WRONG_CONSENT_VALIDITY",
                          f"valid_until must be in the future and within {aspsp.maximum_consent_validity} "
                          "seconds (the ASPSP's maximum_consent_validity)")
        redirect_url, state = body.get("redirect_url"), body.get("state")
        if redirect_url not in self.config.redirect_urls:
            raise EbError(422, "REDIRECT_URI_NOT_ALLOWED",
                          "redirect_url is not registered for the application")
        if not isinstance(state, str) or not state:
            raise EbError(422, "WRONG_REQUEST_PARAMETERS", "state is required")
        auth = _Authorization(
            id=str(uuid.uuid4()), application=application, aspsp=aspsp, state=state,
            redirect_url=redirect_url, valid_until=valid_until.astimezone(UTC),
            psu_type=str(body.get("psu_type") or "personal"),
            balances=access.get("balances", True) is not False,
            transactions=access.get("transactions", True) is not False,
            form_token=secrets.token_urlsafe(16),
            expires_at=now + timedelta(seconds=self.config.authorization_ttl_seconds))
        self.authorizations[auth.id] = auth
        return {"url": f"{self.config.public_url.rstrip('/')}/sim/enablebanking/authorize/{auth.id}",
                "authorization_id": auth.id, "psu_id_hash": digest(application, auth.id)[:32]}

    def decide(self, authorization_id: str, form_token: str, approve: bool) -> tuple[_Authorization, str]:
        """The PSU's answer on the consent page: the authorization and the code (or "")."""
        auth = self.authorizations.get(authorization_id)
        if auth is None or auth.used or not secrets.compare_digest(auth.form_token, form_token) \
                or self.clock.now() >= auth.expires_at:
            raise EbError(400, "AUTHORIZATION_NOT_FOUND", "This authorization is unknown or has ended")
        auth.used = True
        if approve:
            auth.code = secrets.token_urlsafe(24)
        return auth, auth.code or ""

    def authorize_session(self, application: str, code: object) -> EbSession:
        auth = None
        if isinstance(code, str):
            auth = next((a for a in self.authorizations.values()
                         if a.code is not None and secrets.compare_digest(a.code, code)), None)
        if auth is None or auth.application != application:
            raise EbError(400, "WRONG_AUTHORIZATION_CODE", "The authorization code is unknown or was used")
        auth.code = None  # single use
        session = EbSession(id=str(uuid.uuid4()), application=application, aspsp=auth.aspsp,
                            psu_type=auth.psu_type, valid_until=auth.valid_until,
                            created=self.clock.now(), balances=auth.balances,
                            transactions=auth.transactions,
                            uids={str(uuid.uuid4()): a.key for a in self.ledger.accounts()})
        self.sessions[session.id] = session
        return session

    # ---------------------------------------------------------------- sessions and accounts

    def session(self, application: str, session_id: str) -> EbSession:
        session = self.sessions.get(session_id)
        if session is None or session.application != application:
            raise EbError(404, "SESSION_DOES_NOT_EXIST", "Session does not exist")
        return session

    def account(self, application: str, uid: str) -> tuple[EbSession, SimAccount]:
        for session in self.sessions.values():
            if uid in session.uids and session.application == application:
                status = session.status(self.clock.now())
                if status == "CLOSED":
                    raise EbError(401, "CLOSED_SESSION", "The session was closed")
                if status == "EXPIRED":
                    raise EbError(401, "EXPIRED_SESSION", "The session has expired")
                return session, self.ledger.account(session.uids[uid])
        raise EbError(404, "ACCOUNT_DOES_NOT_EXIST", "Account does not exist")

    def count_read(self, session: EbSession, uid: str, scope: str, psu_present: bool) -> None:
        if psu_present:
            return  # PSU-present reads are not limited by PSD2's 4 a day
        key = (session.id, uid, scope)
        if self.budget.used(key) >= self.budget.limit:
            raise EbError(429, "ASPSP_RATE_LIMIT_EXCEEDED",
                          f"The ASPSP allows {self.budget.limit} {scope} reads a day for this account "
                          "without the PSU present", retry_after=self.budget.reset_after())
        self.budget.take(key)

    def account_resource(self, uid: str | None, account: SimAccount) -> dict[str, Any]:
        cash_type = {"checking": "CACC", "savings": "SVGS", "credit_card": "CARD"}.get(account.kind, "OTHR")
        ident = digest("identification", account.iban)[:44]
        row: dict[str, Any] = {
            "account_id": {"iban": account.iban}, "all_account_ids": [
                {"identification": account.iban, "scheme_name": "IBAN"}],
            "account_servicer": {"bic_fi": "SIMUFIHH"}, "name": "Alex Example",
            "details": account.name, "usage": "PRIV", "cash_account_type": cash_type,
            "product": account.name, "currency": account.currency,
            "identification_hash": ident, "identification_hashes": [ident]}
        if uid is not None:
            row["uid"] = uid
        return row

    def transaction(self, session: EbSession, txn: SimTransaction, now: datetime) -> dict[str, Any]:
        pending = txn.is_pending(now)
        debit = txn.amount < 0
        party = {"name": txn.counterparty}
        row: dict[str, Any] = {
            # Booked entries carry the ASPSP's immutable reference; pending ones do not.
            "entry_reference": None if pending else txn.ref[:20],
            "merchant_category_code": txn.mcc,
            "transaction_amount": {"currency": self.ledger.account(txn.account_key).currency,
                                   "amount": str(abs(txn.amount))},
            "creditor": party if debit else None, "debtor": None if debit else party,
            "bank_transaction_code": {"description": txn.memo or "Transfer", "code": "PMNT",
                                      "sub_code": "CCRD" if txn.mcc else "RCDT"},
            "credit_debit_indicator": "DBIT" if debit else "CRDT",
            "status": "PDNG" if pending else "BOOK",
            "booking_date": None if pending else txn.posted_at.date().isoformat(),
            "value_date": (txn.transacted_at if pending else txn.posted_at).date().isoformat(),
            "transaction_date": txn.transacted_at.date().isoformat(),
            "remittance_information": [f"{txn.memo} {txn.counterparty}".strip()],
            # Documented as not stable: "may change if the list of transactions is retrieved
            # again". Here it changes with every session.
            "transaction_id": digest(session.id, txn.ref)[:24],
        }
        return row

