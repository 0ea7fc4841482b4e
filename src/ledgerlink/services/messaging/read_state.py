"""Read state: how far the person has read each thread, for unread counts (docs/messenger.md).

Ids and counters only: per (person, thread) the highest `seq` read, which never goes back.
A thread's messages have consecutive seqs (an edit keeps its seq), so the unread count is
the thread's last seq minus the last seq read. Marking publishes `ThreadRead`, which the
web messenger pushes to the person's other tabs and devices.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.events import ThreadRead
from ledgerlink.domain.privacy import Grant
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps

MAX_SEQ = 2**62


@dataclass(frozen=True, slots=True)
class ReadMark:
    thread_id: str
    last_read_seq: int
    unread: int


def parse_seq(value: object) -> int:
    """A seq sent by a client (form field or frame): a whole number >= 0."""
    if isinstance(value, bool):
        raise InvalidInput("seq must be a whole number, 0 or more.", code="bad_seq")
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit() or len(value) > 18:
            raise InvalidInput("seq must be a whole number, 0 or more.", code="bad_seq")
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= MAX_SEQ:
        raise InvalidInput("seq must be a whole number, 0 or more.", code="bad_seq")
    return value


async def mark_read(deps: Deps, grant: Grant, thread_id: str, seq: int | str) -> ReadMark:
    """The person has seen the thread up to `seq` (capped at its last message). Never moves
    back: an older or repeated mark changes nothing. Someone else's thread -> NotFound; a
    seq that is not a whole number >= 0 -> InvalidInput (bad_seq)."""
    wanted = parse_seq(seq)
    async with deps.uow() as uow:
        thread = await access.read_thread(uow, grant, thread_id)
        target = min(wanted, thread.last_seq)
        moved = await uow.reads.advance(grant.person_id, thread_id, target, at=deps.clock.now())
        last = moved if moved is not None else await uow.reads.last_read(grant.person_id, thread_id)
        if moved:  # None: it was there already; 0: nothing read yet, nothing to tell
            uow.events.append(
                ThreadRead(
                    person_id=grant.person_id,
                    thread_id=thread_id,
                    last_read_seq=moved,
                    last_seq=thread.last_seq,
                )
            )
        await deps.commit_and_publish(uow)
    return ReadMark(thread_id=thread_id, last_read_seq=last, unread=max(0, thread.last_seq - last))


async def unread_counts(deps: Deps, grant: Grant) -> dict[str, int]:
    """Unread messages per thread of the person (every thread, 0 included)."""
    async with deps.uow(readonly=True) as uow:
        threads = await uow.threads.for_person(grant.person_id)
        read = await uow.reads.for_person(grant.person_id)
    return {t.id: max(0, t.last_seq - read.get(t.id, 0)) for t in threads}


async def read_marks(deps: Deps, grant: Grant) -> dict[str, int]:
    """The last seq read per thread of the person (0: never opened)."""
    async with deps.uow(readonly=True) as uow:
        threads = await uow.threads.for_person(grant.person_id)
        read = await uow.reads.for_person(grant.person_id)
    return {t.id: read.get(t.id, 0) for t in threads}
