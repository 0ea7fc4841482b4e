"""The projected-balance alert (issue 13): "Your Everyday Checking ••1234 is likely to go below
$50.00 around Dec 14", sent once, ahead of time.

Checked when an account's balance changes (`BalanceChanged`, after each sync): the account's
30-day projection from its recurring income and bills (`services/insights/projection.py`) is
compared with the person's low-balance threshold for it (`alerts.threshold`: their rule, or $50
on a checking account). Under the person's rules: no threshold (low-balance alerts off) or the
`low_balance_forecast` switch off says nothing; quiet hours hold it for the digest.

Once per account per crossing: the subject names the day the balance is expected to cross
(`forecast:low:<account>:<day>`), and a projection whose crossing moved by up to `SAME_WITHIN`
days (a bill a day late, a new purchase) is the same crossing, not a new alert. A balance that
is already under the threshold is a low-balance alert, not a forecast (`forecast.first_below`).
"""

from __future__ import annotations

from datetime import date, timedelta

from ledgerlink.domain import locale_text as fmt
from ledgerlink.domain.alerts import LOW, Alert, enabled, threshold
from ledgerlink.domain.banking import LinkStatus
from ledgerlink.domain.cards import account_label
from ledgerlink.domain.errors import InvalidInput, NotFound
from ledgerlink.domain.events import BalanceChanged
from ledgerlink.domain.forecast import first_below
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.access.vault import PersonKeyMissing
from ledgerlink.services.alerts import rules
from ledgerlink.services.insights.projection import account_projection
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork

FORECAST = "low_balance_forecast"  # the alert kind (a switch row of this kind turns it off)
SAME_WITHIN = 10  # days


def subject(account_id: str, day: date) -> str:
    return f"forecast:low:{account_id}:{day.isoformat()}"


async def evaluate(deps: Deps, uow: UnitOfWork, *, person_id: str, account_id: str) -> Alert | None:
    """Send the alert if the account is projected to cross below its threshold (and was not
    told about this crossing); returns what was sent, inside the caller's unit of work."""
    grant = Grant.for_component(person_id, "alerts")
    now = deps.clock.now()
    account = await uow.accounts.get(account_id)
    link = None if account is None else await uow.links.get(account.link_id)
    thread = None if account is None else await uow.threads.for_link(account.link_id)
    if account is None or link is None or thread is None or link.status != LinkStatus.ACTIVE.value:
        return None
    try:
        view = await access.read_account(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, account_id, at=now)
        found_rules = await access.read_alert_rules(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, at=now)
        limit = threshold(found_rules, LOW, view)
        if limit is None or view.balance is None or not enabled(found_rules, FORECAST):
            return None
        said = await access.read_corrections(deps.vault, uow, grant, Purpose.DELIVER_UPDATE, at=now)
        projection = await account_projection(deps, uow, grant, Purpose.DELIVER_UPDATE, view, said)
        floor = Money.parse(limit, view.balance.current.currency)
    except (NotFound, PersonKeyMissing, InvalidInput):
        return None
    crossing = None if projection is None else first_below(projection.forecast, floor)
    if crossing is None:
        return None
    for offset in range(-SAME_WITHIN, SAME_WITHIN + 1):
        near = subject(account_id, crossing.day + timedelta(days=offset))
        if await uow.threads.message_by_subject(thread.id, near) is not None:
            return None
    causes = [e for e in crossing.events if e.amount.is_negative()]
    why = ""
    if causes:
        biggest = min(causes, key=lambda e: e.amount.amount)
        why = f" when {biggest.merchant} ({fmt.money(-biggest.amount)}) is due"
    text = (f"Your {account_label(view)} is likely to go below {fmt.money(floor)} around "
            f"{fmt.day(crossing.day, year=False)}{why}: about {fmt.money(crossing.balance)}, "
            "from your regular income and bills.")
    alert = Alert(FORECAST, subject(account_id, crossing.day), text, "warning")
    await rules.send(deps, uow, grant, thread, alert, found_rules)
    return alert


async def on_balance_changed(deps: Deps, event: BalanceChanged) -> None:
    """The bus handler: isolated, idempotent (each crossing is raised once)."""
    async with deps.uow() as uow:
        await evaluate(deps, uow, person_id=event.person_id, account_id=event.account_id)
        await deps.commit_and_publish(uow)
