"""Purposes and grants: every read of personal financial data says why, on whose behalf; and
how such a read is told to the person (the words of their audit log view)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ledgerlink.domain.errors import Forbidden


class Purpose(enum.StrEnum):
    """The closed list of reasons to read personal financial data.

    There is no advertising, marketing, profiling or sale purpose, and a test fails the
    build if one is added.
    """

    DELIVER_UPDATE = "deliver_update"
    SHOW_TO_PERSON = "show_to_person"
    SYNC_WITH_BANK = "sync_with_bank"
    ANSWER_QUESTION = "answer_question"
    FRAUD_CHECK = "fraud_check"
    PERSON_EXPORT = "person_export"
    PERSON_ERASURE = "person_erasure"
    PARTNER_AGGREGATE_DP = "partner_aggregate_dp"
    OPERATIONS_SUPPORT = "operations_support"
    SEND_TO_BANK = "send_to_bank"
    IMPORT_STATEMENT = "import_statement"  # a statement file the person gave (issue 10)


PURPOSE_DESCRIPTIONS: dict[Purpose, str] = {
    Purpose.DELIVER_UPDATE: "to send you an update in your messenger",
    Purpose.SHOW_TO_PERSON: "to show you your own data when you opened it",
    Purpose.SYNC_WITH_BANK: "to keep your data in step with your bank",
    Purpose.ANSWER_QUESTION: "to answer a question you asked",
    Purpose.FRAUD_CHECK: "to check a possible fraud alert",
    Purpose.PERSON_EXPORT: "to export your data at your request",
    Purpose.PERSON_ERASURE: "to erase your data at your request",
    Purpose.PARTNER_AGGREGATE_DP: "to count you, with differential-privacy noise, in an anonymous statistic",
    Purpose.OPERATIONS_SUPPORT: "to fix a problem with your connection",
    Purpose.SEND_TO_BANK: "to pass a message you wrote to your bank",
    Purpose.IMPORT_STATEMENT: "to import a statement file you gave us",
}


# What a link lets the bank share (`banking.Scope`) and what the data is never used for (the
# consent receipt's `uses_prohibited`), as the consent pages word them.
SCOPE_DESCRIPTIONS: dict[str, str] = {
    "balances": "Your balances, current and available",
    "transactions": "Your transactions, pending and posted: date, merchant and amount",
    "alerts": "Alerts from your bank, such as large purchases and security notices",
}
NEVER_USED_FOR: dict[str, str] = {
    "advertising": "Advertising",
    "profiling": "Profiling or scoring you",
    "sale": "Selling your data",
}


def scope_words(scope: str) -> str:
    return SCOPE_DESCRIPTIONS.get(scope, scope.replace("_", " ").capitalize())


def never_words(use: str) -> str:
    return NEVER_USED_FOR.get(use, use.replace("_", " ").capitalize())


def parse_purpose(value: str) -> Purpose:
    try:
        return Purpose(value)
    except ValueError:
        raise Forbidden(f"unknown purpose {value!r}", code="unknown_purpose") from None


@dataclass(frozen=True, slots=True)
class Grant:
    """Who may read one person's data: the person themselves, or a named platform component
    acting on their behalf (e.g. "delivery", "ingest")."""

    person_id: str
    actor: str

    @classmethod
    def for_person(cls, person_id: str) -> Grant:
        return cls(person_id=person_id, actor=f"person:{person_id}")

    @classmethod
    def for_component(cls, person_id: str, component: str) -> Grant:
        return cls(person_id=person_id, actor=f"component:{component}")


# --------------------------------------------------------------------------- an access, in plain words
# (the person's view of the audit log: who read what, and why)

_COMPONENTS = {
    "delivery": "Ledgerlink delivery",
    "sync": "Ledgerlink sync",
    "ingest": "Ledgerlink bank events",
    "linking": "Ledgerlink linking",
    "messenger": "Ledgerlink messenger",
    "realtime": "Ledgerlink live updates",
    "imports": "Ledgerlink statement import",
    "import_cli": "the ledgerlink import command",
}

_ACTIONS = {
    "read_accounts": "your accounts",
    "read_account": "one of your accounts",
    "read_transaction": "a transaction",
    "read_transactions": "transactions of an account",
    "merge_transaction": "a transaction, to update it",
    "remove_transaction": "a transaction, to remove it",
    "note_transaction": "a transaction, to keep your note on it",
    "read_messages": "messages in a thread",
    "use_bank_credentials": "your bank connection's access",
    "read_bank_event": "an event from your bank",
    "erase_person": "everything about you, to erase it",
    "read_audit_log": "this list of accesses",
    "import_statement": "a statement file, to store its transactions",
    "match_transactions": "transactions of an account, to match a statement file with them",
    "match_statement_rows": "transactions from a statement file, to match your bank's report with them",
}


def actor_words(actor: str, person_id: str) -> str:
    kind, _, name = actor.partition(":")
    if kind == "person":
        return "you" if name == person_id else "another person"
    if kind == "component":
        return _COMPONENTS.get(name, f"Ledgerlink {name.replace('_', ' ')}")
    return actor


def purpose_words(purpose: str) -> str:
    try:
        return PURPOSE_DESCRIPTIONS[Purpose(purpose)]
    except (ValueError, KeyError):
        return purpose.replace("_", " ")


def action_words(action: str) -> str:
    return _ACTIONS.get(action, action.replace("_", " "))
