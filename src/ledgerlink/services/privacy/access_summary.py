"""The person's audit log, grouped so it can be read: per day and purpose, counted by the
database (`AuditRepository.counts`), with what is unusual marked (issue 13).

Days are UTC days: a person has no stored time zone yet. Reading any of this is itself an
access to the log, written to it like every other (`read_audit_log`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from babel.dates import format_date

from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.privacy import Grant, Purpose, action_words, actor_words, purpose_words
from ledgerlink.services import access
from ledgerlink.services.access.ports import AuditCount, AuditQuery, AuditRecord
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork

__all__ = [
    "DAYS_PER_PAGE",
    "ENTRIES_PER_PAGE",
    "PURPOSE_PLAIN",
    "WHO",
    "WHO_BY",
    "AccessFilter",
    "DayGroup",
    "EntriesPage",
    "EntryView",
    "GroupedPage",
    "PurposeGroup",
    "chat_summary",
    "day_label",
    "entries",
    "grouped",
    "parse_filter",
    "parse_page",
    "what_words",
]

DAYS_PER_PAGE = 7
ENTRIES_PER_PAGE = 50
MAX_PAGE = 10_000

# Each purpose as the summary line says it ("214 reads to send you updates").
PURPOSE_PLAIN: dict[Purpose, str] = {
    Purpose.DELIVER_UPDATE: "to send you updates",
    Purpose.SHOW_TO_PERSON: "to show you your own data",
    Purpose.SYNC_WITH_BANK: "to keep in step with your bank",
    Purpose.ANSWER_QUESTION: "to answer your questions",
    Purpose.FRAUD_CHECK: "to check for fraud",
    Purpose.PERSON_EXPORT: "to export your data, as you asked",
    Purpose.PERSON_ERASURE: "to erase your data, as you asked",
    Purpose.PARTNER_AGGREGATE_DP: "to count you in an anonymous statistic, with privacy noise",
    Purpose.OPERATIONS_SUPPORT: "by a person at Ledgerlink, to fix a problem with your connection",
    Purpose.SEND_TO_BANK: "to pass your messages to your bank",
    Purpose.IMPORT_STATEMENT: "to import a statement file you gave us",
}
STAFF = Purpose.OPERATIONS_SUPPORT.value  # the only purpose under which a person at Ledgerlink reads
EXPORT = Purpose.PERSON_EXPORT.value

WHO: dict[str, str] = {
    "you": "You",
    "ledgerlink": "Ledgerlink, automatically",
    "staff": "A person at Ledgerlink",
}

WHO_BY = {"you": "by you", "ledgerlink": "by Ledgerlink automatically", "staff": "by a person at Ledgerlink"}

# Actions that are not a plain "read <what>" (the others: "read " + `action_words`).
_VERBS = {
    "export_person": "exported everything about you",
    "read_receipt": "read your consent receipt",
    "read_alert_rules": "read your alert rules",
    "read_digest_settings": "read your digest settings",
    "read_held_alerts": "read alerts held during your quiet hours",
    "read_channel_config": "read the settings of a notification channel",
    "add_channel": "saved a notification channel",
    "remove_channel": "removed a notification channel",
    "read_message": "read a message",
    "read_for_aggregate": "counted your transactions in an anonymous statistic",
    "read_csv_mapping": "read how your last statement file was laid out",
    "read_platform_quote": "read a message to quote it in your messenger",
    "start_platform_link": "connected a messenger app",
}


def what_words(action: str) -> str:
    """The action as a whole phrase with its verb ("read a transaction"), never "read read"."""
    if action in _VERBS:
        return _VERBS[action]
    words = action_words(action)
    if words == action.replace("_", " "):  # not in the domain's table: its own words have the verb
        return words
    return f"read {words}"


def _plain(purpose: str) -> str:
    try:
        return PURPOSE_PLAIN[Purpose(purpose)]
    except ValueError:
        return purpose_words(purpose)


def _who(actor: str, person_id: str) -> str:
    if actor.startswith("operator:"):
        return "a person at Ledgerlink"
    return actor_words(actor, person_id)


def day_label(day: date, today: date) -> str:
    if day == today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    return format_date(day, "EEEE d MMMM y", locale="en")


# --------------------------------------------------------------------------- filters


@dataclass(frozen=True, slots=True)
class AccessFilter:
    purpose: str | None = None  # a Purpose value
    who: str | None = None  # a key of WHO
    start: date | None = None  # first day shown (UTC), inclusive
    end: date | None = None  # last day shown (UTC), inclusive

    def query(self, person_id: str) -> AuditQuery:
        purposes: tuple[str, ...] | None = None if self.purpose is None else (self.purpose,)
        prefix: str | None = None
        exclude: tuple[str, ...] = ()
        if self.who == "you":
            prefix = f"person:{person_id}"
        elif self.who == "ledgerlink":
            prefix, exclude = "component:", (STAFF,)
        elif self.who == "staff":
            purposes = tuple(p for p in purposes or (STAFF,) if p == STAFF)
        return AuditQuery(
            person_id=person_id,
            since=None if self.start is None else datetime.combine(self.start, time(), UTC),
            until=None if self.end is None else datetime.combine(self.end + timedelta(days=1), time(), UTC),
            purposes=purposes,
            exclude_purposes=exclude,
            actor_prefix=prefix,
        )

    def params(self) -> dict[str, str]:
        """The filter as query parameters (for paging and drill-down links)."""
        out = {"purpose": self.purpose or "", "who": self.who or "",
               "from": "" if self.start is None else self.start.isoformat(),
               "to": "" if self.end is None else self.end.isoformat()}
        return {k: v for k, v in out.items() if v}


def _date(value: str, name: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"'{name}' must be a date like 2026-11-03, not {value.strip()[:20]!r}",
                           code="bad_date") from None


def parse_filter(*, purpose: str = "", who: str = "", start: str = "", end: str = "") -> AccessFilter:
    """The page's filter from its query parameters; bad input is an `InvalidInput` naming the field."""
    purpose, who = purpose.strip(), who.strip()
    if purpose and purpose not in {p.value for p in Purpose}:
        raise InvalidInput(f"there is no purpose {purpose[:40]!r}; choose one from the list",
                           code="unknown_purpose")
    if who and who not in WHO:
        raise InvalidInput(f"'who' must be one of {', '.join(WHO)}", code="bad_who")
    first, last = _date(start, "from"), _date(end, "to")
    if first is not None and last is not None and first > last:
        raise InvalidInput("'from' must be on or before 'to'", code="bad_date_range")
    return AccessFilter(purpose=purpose or None, who=who or None, start=first, end=last)


def parse_page(value: str) -> int:
    try:
        number = int(value or "1")
    except ValueError:
        raise InvalidInput("'page' must be a whole number", code="bad_page") from None
    if not 1 <= number <= MAX_PAGE:
        raise InvalidInput(f"'page' must be between 1 and {MAX_PAGE}", code="bad_page")
    return number


# --------------------------------------------------------------------------- grouped view


@dataclass(frozen=True, slots=True)
class PurposeGroup:
    day: date
    purpose: str
    words: str
    count: int
    by: list[tuple[str, int]]  # who read, and how often, most first
    new: bool  # the first time this purpose appears in the person's log (after their first day)

    @property
    def staff(self) -> bool:
        return self.purpose == STAFF

    @property
    def export(self) -> bool:
        return self.purpose == EXPORT

    @property
    def unusual(self) -> bool:
        return self.staff or self.export or self.new


def _reads(n: int) -> str:
    return f"{n} read" if n == 1 else f"{n} reads"


@dataclass(frozen=True, slots=True)
class DayGroup:
    day: date
    groups: list[PurposeGroup] = field(default_factory=list)  # most read first; staff reads last

    @property
    def total(self) -> int:
        return sum(g.count for g in self.groups)

    @property
    def staff_count(self) -> int:
        return sum(g.count for g in self.groups if g.staff)

    def parts(self) -> list[str]:
        """ "214 reads to send you updates", "3 to answer your questions" (no staff reads)."""
        parts = [f"{g.count} {g.words}" for g in self.groups if not g.staff]
        if parts:
            first = self.groups[0]
            parts[0] = f"{_reads(first.count)} {first.words}"
        return parts

    def sentence(self) -> str:
        """ "214 reads to send you updates, 3 to answer your questions, 0 by a person at Ledgerlink"."""
        parts, n = self.parts(), self.staff_count
        staff = f"{n if parts else _reads(n)} by a person at Ledgerlink"
        return ", ".join([*parts, staff])


def _fold(counts: list[AuditCount], person_id: str, first_seen: dict[str, datetime]) -> list[DayGroup]:
    first_day = min((at.date() for at in first_seen.values()), default=None)
    cells: dict[date, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    for c in counts:
        cells[c.day][c.purpose][_who(c.actor, person_id)] += c.count
    days = []
    for day in sorted(cells, reverse=True):
        groups = []
        for purpose, by in cells[day].items():
            seen = first_seen.get(purpose)
            groups.append(PurposeGroup(
                day=day, purpose=purpose, words=_plain(purpose), count=sum(by.values()),
                by=sorted(by.items(), key=lambda kv: (-kv[1], kv[0])),
                new=seen is not None and seen.date() == day and day != first_day,
            ))
        groups.sort(key=lambda g: (g.staff, -g.count, g.purpose))
        days.append(DayGroup(day=day, groups=groups))
    return days


@dataclass(frozen=True, slots=True)
class GroupedPage:
    days: list[DayGroup]
    page: int
    pages: int
    today: date
    filter: AccessFilter

    @property
    def unusual(self) -> list[PurposeGroup]:
        return [g for d in self.days for g in d.groups if g.unusual]


async def _audit_the_read(deps: Deps, uow: UnitOfWork, grant: Grant, subject: str) -> None:
    await access.audit(uow, grant, Purpose.SHOW_TO_PERSON, action="read_audit_log", subject=subject,
                       at=deps.clock.now())


async def grouped(deps: Deps, grant: Grant, filt: AccessFilter, *, page: int = 1) -> GroupedPage:
    """One page of days (newest first), each with its reads counted per purpose."""
    query = filt.query(grant.person_id)
    async with deps.uow() as uow:
        total = await uow.audit.count_days(query)
        days = await uow.audit.days(query, limit=DAYS_PER_PAGE, offset=(page - 1) * DAYS_PER_PAGE)
        counts: list[AuditCount] = []
        if days:
            window = AccessFilter(purpose=filt.purpose, who=filt.who, start=days[-1], end=days[0])
            counts = await uow.audit.counts(window.query(grant.person_id))
        first_seen = await uow.audit.first_seen(grant.person_id)
        await _audit_the_read(deps, uow, grant, f"audit_log days:{len(days)}")
        await uow.commit()
    return GroupedPage(days=_fold(counts, grant.person_id, first_seen), page=page,
                       pages=max(1, -(-total // DAYS_PER_PAGE)), today=deps.clock.now().date(), filter=filt)


async def chat_summary(deps: Deps, grant: Grant) -> tuple[DayGroup, bool]:
    """Today's reads, and whether the log has any entry at all."""
    today = deps.clock.now().date()
    query = AccessFilter(start=today, end=today).query(grant.person_id)
    async with deps.uow() as uow:
        counts = await uow.audit.counts(query)
        first_seen = await uow.audit.first_seen(grant.person_id)
        await _audit_the_read(deps, uow, grant, "audit_log days:1")
        await uow.commit()
    days = _fold(counts, grant.person_id, first_seen)
    return (days[0] if days else DayGroup(day=today)), bool(first_seen)


# --------------------------------------------------------------------------- drill-down


@dataclass(frozen=True, slots=True)
class EntryView:
    index: int
    at: datetime
    who: str
    what: str
    why: str
    purpose: str

    @property
    def staff(self) -> bool:
        return self.purpose == STAFF

    @property
    def export(self) -> bool:
        return self.purpose == EXPORT


@dataclass(frozen=True, slots=True)
class EntriesPage:
    entries: list[EntryView]
    page: int
    has_next: bool
    filter: AccessFilter


def _entry(r: AuditRecord, person_id: str) -> EntryView:
    return EntryView(index=r.seq, at=r.at, who=_who(r.actor, person_id), what=what_words(r.action),
                     why=purpose_words(r.purpose), purpose=r.purpose)


async def entries(deps: Deps, grant: Grant, filt: AccessFilter, *, page: int = 1) -> EntriesPage:
    """One page of the matching entries themselves, newest first."""
    async with deps.uow() as uow:
        rows = await uow.audit.find(filt.query(grant.person_id), limit=ENTRIES_PER_PAGE + 1,
                                    offset=(page - 1) * ENTRIES_PER_PAGE)
        shown = rows[:ENTRIES_PER_PAGE]
        await _audit_the_read(deps, uow, grant, f"audit_log entries:{len(shown)}")
        await uow.commit()
    return EntriesPage(entries=[_entry(r, grant.person_id) for r in shown], page=page,
                       has_next=len(rows) > ENTRIES_PER_PAGE, filter=filt)
