"""SQL repositories of auth: sign-in sessions, second factors and the second sign-in step (the
Protocols in ledgerlink.services.auth.ports)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists, func, insert, select, update

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db._repo import _by, _Repo, _values
from ledgerlink.services.auth.ports import (
    PASSKEY,
    TOTP,
    ChallengeRecord,
    PasskeyRecord,
    PendingSignInRecord,
    RecoveryCodeRecord,
    SecurityEventRecord,
    SessionRecord,
    TotpRecord,
)

_SESSION = _by(s.sessions, "id")  # asked on every signed-in request
_t, _p, _r = s.totp_factors.c, s.passkeys.c, s.recovery_codes.c


class SqlSessions(_Repo):
    async def add(self, session: SessionRecord) -> None:
        await self._conn.execute(insert(s.sessions).values(**_values(session, s.sessions)))

    async def get(self, session_id: str) -> SessionRecord | None:
        return await self._one(SessionRecord, _SESSION, {"id": session_id})

    async def confirm(self, session_id: str, at: datetime, *, method: str) -> None:
        await self._conn.execute(update(s.sessions).where(s.sessions.c.id == session_id)
                                 .values(confirmed_at=at, confirmed_with=method))

    async def end(self, session_id: str) -> bool:
        result = await self._conn.execute(delete(s.sessions).where(s.sessions.c.id == session_id))
        return bool(result.rowcount)

    async def end_all(self, person_id: str) -> int:
        result = await self._conn.execute(delete(s.sessions).where(s.sessions.c.person_id == person_id))
        return int(result.rowcount or 0)

    async def end_expired(self, person_id: str, now: datetime) -> int:
        result = await self._conn.execute(
            delete(s.sessions).where(s.sessions.c.person_id == person_id, s.sessions.c.expires_at <= now))
        return int(result.rowcount or 0)


class SqlFactors(_Repo):
    async def kinds(self, person_id: str) -> frozenset[str]:
        row = (await self._conn.execute(select(
            exists().where(_t.person_id == person_id, _t.confirmed_at.is_not(None)).label("totp"),
            exists().where(_p.person_id == person_id).label("passkey"),
        ))).one()
        return frozenset(kind for kind, present in ((TOTP, row.totp), (PASSKEY, row.passkey)) if present)

    async def totp(self, person_id: str) -> TotpRecord | None:
        return await self._one(TotpRecord, select(s.totp_factors).where(_t.person_id == person_id))

    async def put_totp(self, record: TotpRecord) -> None:
        await self._conn.execute(delete(s.totp_factors).where(
            _t.person_id == record.person_id, _t.confirmed_at.is_(None)))
        await self._conn.execute(insert(s.totp_factors).values(**_values(record, s.totp_factors)))

    async def confirm_totp(self, factor_id: str, *, step: int, at: datetime) -> bool:
        result = await self._conn.execute(
            update(s.totp_factors).where(_t.id == factor_id, _t.confirmed_at.is_(None))
            .values(confirmed_at=at, last_step=step, last_used_at=at))
        return bool(result.rowcount)

    async def accept_totp_step(self, factor_id: str, *, step: int, at: datetime) -> bool:
        result = await self._conn.execute(
            update(s.totp_factors).where(_t.id == factor_id, _t.last_step < step)
            .values(last_step=step, last_used_at=at))
        return bool(result.rowcount)

    async def remove_totp(self, person_id: str) -> bool:
        result = await self._conn.execute(delete(s.totp_factors).where(_t.person_id == person_id))
        return bool(result.rowcount)

    async def passkeys(self, person_id: str) -> list[PasskeyRecord]:
        return await self._many(PasskeyRecord, select(s.passkeys).where(_p.person_id == person_id)
                                .order_by(_p.created_at, _p.id))

    async def passkey_by_credential(self, credential_id: bytes) -> PasskeyRecord | None:
        return await self._one(PasskeyRecord, select(s.passkeys).where(_p.credential_id == credential_id))

    async def add_passkey(self, record: PasskeyRecord) -> None:
        await self._conn.execute(insert(s.passkeys).values(**_values(record, s.passkeys)))

    async def use_passkey(self, passkey_id: str, *, old_count: int, new_count: int, at: datetime) -> bool:
        result = await self._conn.execute(
            update(s.passkeys).where(_p.id == passkey_id, _p.sign_count == old_count)
            .values(sign_count=new_count, last_used_at=at))
        return bool(result.rowcount)

    async def remove_passkey(self, person_id: str, passkey_id: str) -> bool:
        result = await self._conn.execute(
            delete(s.passkeys).where(_p.id == passkey_id, _p.person_id == person_id))
        return bool(result.rowcount)

    async def replace_recovery_codes(self, person_id: str, codes: list[RecoveryCodeRecord]) -> None:
        await self.remove_recovery_codes(person_id)
        if codes:
            await self._conn.execute(insert(s.recovery_codes), [_values(c, s.recovery_codes) for c in codes])

    async def recovery_codes(self, person_id: str, selector: str) -> list[RecoveryCodeRecord]:
        return await self._many(RecoveryCodeRecord, select(s.recovery_codes).where(
            _r.person_id == person_id, _r.selector == selector, _r.used_at.is_(None)))

    async def use_recovery_code(self, code_id: str, at: datetime) -> bool:
        result = await self._conn.execute(
            update(s.recovery_codes).where(_r.id == code_id, _r.used_at.is_(None)).values(used_at=at))
        return bool(result.rowcount)

    async def recovery_codes_left(self, person_id: str) -> int:
        count = (await self._conn.execute(select(func.count()).select_from(s.recovery_codes).where(
            _r.person_id == person_id, _r.used_at.is_(None)))).scalar_one()
        return int(count)

    async def remove_recovery_codes(self, person_id: str) -> int:
        result = await self._conn.execute(delete(s.recovery_codes).where(_r.person_id == person_id))
        return int(result.rowcount or 0)

    async def add_event(self, event: SecurityEventRecord, *, keep_after: datetime) -> None:
        e = s.security_events.c
        await self._conn.execute(delete(s.security_events).where(
            e.person_id == event.person_id, e.at < keep_after))
        await self._conn.execute(insert(s.security_events).values(**_values(event, s.security_events)))

    async def events(self, person_id: str, *, limit: int) -> list[SecurityEventRecord]:
        e = s.security_events.c
        return await self._many(SecurityEventRecord, select(s.security_events).where(e.person_id == person_id)
                                .order_by(e.at.desc(), e.id).limit(limit))


class SqlSignInSteps(_Repo):
    async def add_pending(self, record: PendingSignInRecord) -> None:
        await self._conn.execute(insert(s.pending_sign_ins).values(**_values(record, s.pending_sign_ins)))

    async def pending(self, pending_id: str) -> PendingSignInRecord | None:
        return await self._one(PendingSignInRecord, select(s.pending_sign_ins)
                               .where(s.pending_sign_ins.c.id == pending_id))

    async def end_pending(self, pending_id: str) -> bool:
        p, c = s.pending_sign_ins.c, s.webauthn_challenges.c
        result = await self._conn.execute(delete(s.pending_sign_ins).where(p.id == pending_id))
        await self._conn.execute(delete(s.webauthn_challenges).where(c.owner == pending_id))
        return bool(result.rowcount)

    async def end_expired_pending(self, person_id: str, now: datetime) -> int:
        p, c = s.pending_sign_ins.c, s.webauthn_challenges.c
        await self._conn.execute(delete(s.webauthn_challenges).where(
            c.person_id == person_id, c.expires_at <= now))
        result = await self._conn.execute(delete(s.pending_sign_ins).where(
            p.person_id == person_id, p.expires_at <= now))
        return int(result.rowcount or 0)

    async def put_challenge(self, record: ChallengeRecord) -> None:
        c = s.webauthn_challenges.c
        await self._conn.execute(delete(s.webauthn_challenges).where(
            c.owner == record.owner, c.purpose == record.purpose))
        await self._conn.execute(insert(s.webauthn_challenges).values(
            **_values(record, s.webauthn_challenges)))

    async def take_challenge(self, owner: str, purpose: str) -> ChallengeRecord | None:
        c = s.webauthn_challenges.c
        where = (c.owner == owner, c.purpose == purpose)
        found = await self._one(ChallengeRecord, select(s.webauthn_challenges).where(*where))
        if found is None:
            return None
        taken = await self._conn.execute(delete(s.webauthn_challenges).where(*where))
        return found if taken.rowcount else None  # a concurrent request took it first


__all__ = ["SqlFactors", "SqlSessions", "SqlSignInSteps"]
