"""Threads and messages. A message's body is a structured card; channels render it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class ThreadKind(enum.StrEnum):
    SYSTEM = "system"  # the person's own thread with ledgerlink: linking, help
    BANK = "bank"  # one per linked bank


class CardKind(enum.StrEnum):
    TEXT = "text"
    BALANCE = "balance"
    TRANSACTION = "transaction"
    LINK_STATUS = "link_status"
    DECLINED = "declined"  # a card authorisation the bank declined (message templates)
    DIGEST = "digest"  # a daily or weekly summary, or held alerts "while you were away"
    FRAUD = "fraud"  # a bank's "Was this you?" prompt with quick replies


@dataclass(frozen=True, slots=True)
class Thread:
    id: str
    person_id: str
    kind: ThreadKind
    title: str
    partner_id: str | None
    created_at: datetime
    last_rev: int


@dataclass(frozen=True, slots=True)
class Message:
    """`seq` orders messages in the thread and never changes; `rev` is the thread-wide
    revision of the latest change to this message, so a client that resumes from the last
    rev it saw receives every new message and every edit exactly once."""

    id: str
    thread_id: str
    seq: int
    rev: int
    kind: CardKind
    subject_key: str | None  # e.g. "txn:<id>": the same subject edits one message in place
    body: dict[str, Any]
    created_at: datetime
    edited_at: datetime | None
