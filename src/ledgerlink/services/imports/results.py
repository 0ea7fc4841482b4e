"""What an import answers: imported, failed with a precise error, or waiting for the person to
confirm something (the date order of an ambiguous file, or which account it is about)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ledgerlink.domain.errors import DomainError
from ledgerlink.domain.statements import StatementError


class ImportStatus(enum.StrEnum):
    IMPORTED = "imported"
    FAILED = "failed"
    NEEDS_CONFIRMATION = "needs_confirmation"


class Needs(enum.StrEnum):
    DATE_ORDER = "date_order"  # the dates fit several orders: say which (nothing stored)
    ACCOUNT = "account"  # "needs_account_confirmation": which account a statement is about


class Proposal(enum.StrEnum):
    USE = "use"  # mapped by its number token: nothing to confirm
    CONFIRM = "confirm"  # an existing account with the same last 4 / currency / type: confirm it
    CREATE = "create"  # no such account: a file-only account is proposed


CREATE = "new"  # as a choice: create the proposed file-only account


@dataclass(frozen=True, slots=True)
class AccountProposal:
    statement: int  # index in the file
    proposal: Proposal
    last4: str
    currency: str | None
    type: str | None
    name: str  # what a new account would be called
    account_id: str | None = None  # USE: the account
    candidates: tuple[str, ...] = ()  # CONFIRM: the accounts it may be

    def as_json(self) -> dict[str, Any]:
        return {"statement": self.statement, "proposal": self.proposal.value, "last4": self.last4,
                "currency": self.currency, "type": self.type, "name": self.name,
                "account_id": self.account_id, "candidates": list(self.candidates)}


@dataclass(frozen=True, slots=True)
class ImportProblem:
    code: str
    detail: str

    @classmethod
    def of(cls, exc: DomainError) -> ImportProblem:
        return cls(code=exc.code, detail=exc.detail)


@dataclass(frozen=True, slots=True)
class ImportResult:
    file: str  # the file's name as given (display-safe)
    format: str | None
    status: ImportStatus
    needs: Needs | None = None
    accounts: tuple[str, ...] = ()
    entries: int = 0
    added: int = 0
    merged: int = 0  # matched a row already here (webhook, sync, another file) and merged into it
    skipped: int = 0  # already imported (the same entries before), or older than retention
    error: ImportProblem | None = None
    proposals: tuple[AccountProposal, ...] = ()
    date_orders: tuple[str, ...] = ()  # NEEDS_CONFIRMATION / DATE_ORDER: the orders that fit
    period_start: date | None = None
    period_end: date | None = None
    thread_id: str | None = None
    import_id: str | None = None
    summary: str | None = None  # the summary card's text
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def failed(cls, file: str, exc: DomainError, *, format: str | None = None) -> ImportResult:
        if format is None and isinstance(exc, StatementError) and exc.format is not None:
            format = exc.format.value
        return cls(file=file, format=format, status=ImportStatus.FAILED, error=ImportProblem.of(exc))

    def as_json(self) -> dict[str, Any]:
        """The CLI's `--json` line (docs/imports.md)."""
        return {
            "file": self.file, "format": self.format, "status": self.status.value,
            "accounts": list(self.accounts), "added": self.added, "merged": self.merged,
            "skipped": self.skipped,
            "error": None if self.error is None else {"code": self.error.code, "detail": self.error.detail},
            "needs": None if self.needs is None else self.needs.value,
            "entries": self.entries,
            "proposals": [p.as_json() for p in self.proposals],
            "date_orders": list(self.date_orders),
            "period": None if self.period_start is None or self.period_end is None
            else [self.period_start.isoformat(), self.period_end.isoformat()],
            "warnings": list(self.warnings),
        }  # fmt: skip
