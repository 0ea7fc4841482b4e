"""Which account each statement of a file is about (ADR 0022).

1. The file's identifier (ACCTID, IBAN, :25:) as a keyed number token equal to an account's
   `number_token`: that account, nothing to confirm.
2. Else accounts whose number is unknown (linked before tokens, or by a bank that shows only
   a mask) with the same last 4, currency and type: proposed, the person confirms one (the
   token is then stored, so the next file maps by itself).
3. Else a new file-only account in the person's "Statement files" link, which the person
   confirms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ledgerlink.domain.banking import AccountType
from ledgerlink.domain.chat import ThreadKind
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant
from ledgerlink.domain.statements import ParsedStatement, StatementError, StatementFormat
from ledgerlink.domain.text import display_line
from ledgerlink.services import access
from ledgerlink.services.imports.ports import (
    FILES_LINK_STATUS,
    FILES_PARTNER_ID,
    FILES_PARTNER_KIND,
    FILES_PARTNER_NAME,
    FILES_PARTNER_SLUG,
)
from ledgerlink.services.imports.results import CREATE, AccountProposal, Proposal
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.ports import PartnerRecord
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.linking.ports import AccountRecord, BankAccountInfo, LinkRecord
from ledgerlink.services.messaging.ports import ThreadRecord

_TYPE_WORDS = {"checking": "Checking", "savings": "Savings", "credit_card": "Credit card", "loan": "Loan",
               "other": "Account"}


@dataclass(frozen=True, slots=True)
class Resolution:
    accounts: dict[int, AccountRecord]  # statement index -> account (complete when proposals are all USE)
    proposals: tuple[AccountProposal, ...]
    unresolved: bool


def account_name(stmt: ParsedStatement) -> str:
    if stmt.account.name:
        return display_line(stmt.account.name, "account name")[:60]
    words = _TYPE_WORDS.get(stmt.account.type.value if stmt.account.type else "other", "Account")
    last4 = stmt.account.last4
    return f"{words} ••{last4}" if last4 else f"Imported {words.lower()}"


def _proposal(i: int, stmt: ParsedStatement, currency: str | None, proposal: Proposal, *,
              account_id: str | None = None, candidates: tuple[str, ...] = ()) -> AccountProposal:
    return AccountProposal(
        statement=i, proposal=proposal, last4=stmt.account.last4, currency=currency,
        type=stmt.account.type.value if stmt.account.type else None, name=account_name(stmt),
        account_id=account_id, candidates=candidates,
    )


def _fits(account: AccountRecord, stmt: ParsedStatement, currency: str | None) -> bool:
    last4 = stmt.account.last4
    if access.has_number_token(account):
        return False  # its number is known, and it is not this one
    if last4 and account.last4 != last4:
        return False
    if currency is not None and account.currency != currency:
        return False
    kind = stmt.account.type
    return kind is None or kind is AccountType.OTHER or account.type in (kind.value, AccountType.OTHER.value)


async def resolve(
    deps: Deps,
    uow: UnitOfWork,
    grant: Grant,
    statements: tuple[ParsedStatement, ...],
    tokens: access.ImportTokens,
    *,
    fmt: StatementFormat,
    choices: Mapping[int, str],
    confirm: bool,
    currency: str | None,
    at: datetime,
) -> Resolution:
    """Map every statement to an account. Choices (statement index -> account id, or CREATE)
    and `confirm` (accept every proposal that names one answer) settle what needs confirming;
    accounts are created or given their token only when nothing is left unresolved."""
    mine = await uow.accounts.for_person(grant.person_id)
    groups = statement_groups(statements)
    plan: dict[int, AccountRecord | None] = {}  # first statement of a group -> account; None: create
    proposals: list[AccountProposal] = []
    unresolved = False
    for i, members in groups.items():
        stmt = statements[i]
        token = tokens.account(stmt.account.identifier)
        cur = stmt.account.currency or currency
        matched = next((a for a in mine if token is not None and a.number_token == token), None)
        choice = next((choices[m] for m in members if m in choices), None)
        if choice is not None and choice != CREATE:
            chosen = next((a for a in mine if a.id == choice), None)
            if chosen is None:
                raise InvalidInput(f"account {choice} is not one of this person's accounts",
                                   code="account_not_found")
            _check_choice(chosen, stmt, token, cur, fmt)
            plan[i] = chosen
            proposals.append(_proposal(i, stmt, cur, Proposal.USE, account_id=chosen.id))
            continue
        if matched is not None and choice is None:
            plan[i] = matched
            proposals.append(_proposal(i, stmt, cur, Proposal.USE, account_id=matched.id))
            continue
        candidates = () if choice == CREATE else tuple(a.id for a in mine if _fits(a, stmt, cur))
        if candidates:
            proposals.append(_proposal(i, stmt, cur, Proposal.CONFIRM, candidates=candidates))
            if confirm and len(candidates) == 1:
                plan[i] = next(a for a in mine if a.id == candidates[0])
            else:
                unresolved = True
            continue
        proposals.append(_proposal(i, stmt, cur, Proposal.CREATE))
        if choice == CREATE or confirm:
            plan[i] = None
        else:
            unresolved = True
    if unresolved:
        return Resolution({}, tuple(proposals), True)
    accounts: dict[int, AccountRecord] = {}
    for i, target in plan.items():
        stmt = statements[i]
        token = tokens.account(stmt.account.identifier)
        if target is None:
            target = await _create_file_account(deps, uow, grant, stmt, token, currency, fmt=fmt, at=at)
            mine.append(target)
        elif token is not None and not access.has_number_token(target):
            target.number_token = token  # confirmed once: the next file maps by itself
            await uow.accounts.update(target)
        for member in groups[i]:
            accounts[member] = target
    return Resolution(accounts, tuple(proposals), False)


def statement_groups(statements: tuple[ParsedStatement, ...]) -> dict[int, list[int]]:
    """Statements about one account number (a camt file's days, an MT940 file's statements) go
    to one account: first statement index -> every index of that number. A statement without
    a number is its own group."""
    first: dict[str, int] = {}
    groups: dict[int, list[int]] = {}
    for i, stmt in enumerate(statements):
        number = access.normalize_identifier(stmt.account.identifier)
        lead = first.setdefault(number, i) if number else i
        groups.setdefault(lead, []).append(i)
    return groups


def _check_choice(account: AccountRecord, stmt: ParsedStatement, token: str | None, currency: str | None,
                  fmt: StatementFormat) -> None:
    if currency is not None and account.currency != currency:
        raise StatementError(f"the statement is in {currency}, the chosen account in {account.currency}",
                             format=fmt, code="currency_mismatch")
    if token is not None and access.has_number_token(account) and account.number_token != token:
        raise StatementError("the statement names another account number than the chosen account's",
                             format=fmt, code="account_number_differs")
    if token is not None and stmt.account.last4 and account.last4 != stmt.account.last4:
        raise StatementError(f"the statement is about an account ending {stmt.account.last4}, the chosen "
                             f"account ends {account.last4}", format=fmt, code="account_number_differs")


async def _create_file_account(
    deps: Deps, uow: UnitOfWork, grant: Grant, stmt: ParsedStatement, token: str | None,
    currency: str | None, *, fmt: StatementFormat, at: datetime,
) -> AccountRecord:
    cur = stmt.account.currency or currency
    if cur is None:
        raise StatementError("the file does not say its currency: choose one for the account (e.g. EUR)",
                             format=fmt, code="currency_needed")
    link, _thread = await files_link(deps, uow, grant.person_id, at=at)
    info = BankAccountInfo(
        bank_account_id=new_id("file"), name=account_name(stmt), type=stmt.account.type or AccountType.OTHER,
        currency=cur, last4=stmt.account.last4,
    )
    return await access.create_account(
        deps.vault, uow, person_id=grant.person_id, link_id=link.id, partner_id=FILES_PARTNER_ID, info=info,
        at=at, number_token=token,
    )


async def files_link(
    deps: Deps, uow: UnitOfWork, person_id: str, *, at: datetime
) -> tuple[LinkRecord, ThreadRecord]:
    """The person's "Statement files" link and its thread, made on first use. The built-in
    "files" partner has no webhook secret (no event is ever accepted for it) and no connector;
    the link's status is not "active", so sync, delivery, expiry and unlink pass it by."""
    if await uow.partners.get(FILES_PARTNER_ID) is None:
        await uow.partners.upsert(PartnerRecord(
            id=FILES_PARTNER_ID, slug=FILES_PARTNER_SLUG, name=FILES_PARTNER_NAME, kind=FILES_PARTNER_KIND,
            webhook_secrets=[], created_at=at,
        ))  # fmt: skip
    links = await uow.links.for_person(person_id)
    link = next((lk for lk in links if lk.partner_id == FILES_PARTNER_ID), None)
    if link is None:
        link = LinkRecord(
            id=new_id("lnk"), person_id=person_id, partner_id=FILES_PARTNER_ID, status=FILES_LINK_STATUS,
            scopes=[], state=None, sealed_secrets=None, bank_consent_id=None, created_at=at, updated_at=at,
        )
        await uow.links.add(link)
    thread = await uow.threads.for_link(link.id)
    if thread is None:
        thread = ThreadRecord(
            id=new_id("thr"), person_id=person_id, kind=ThreadKind.BANK.value, title=FILES_PARTNER_NAME,
            partner_id=FILES_PARTNER_ID, link_id=link.id, created_at=at, last_rev=0, last_seq=0,
        )
        await uow.threads.add(thread)
    return link, thread
