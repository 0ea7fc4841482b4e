"""What the person types in a thread: stored as their message, then answered.

Commands are matched by a deterministic parser (no outside service). Each command declares
the purpose under which it reads data; an unknown text gets the list of what can be asked.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ledgerlink.domain import alerts
from ledgerlink.domain import locale_text as fmt  # issue 13: answers in the messenger's locale
from ledgerlink.domain.banking import Scope
from ledgerlink.domain.cards import account_label
from ledgerlink.domain.chat import CardKind, ThreadKind
from ledgerlink.domain.countries import country_name
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.questions import CATEGORY_RE, NotUnderstood, parse_question
from ledgerlink.services import access
from ledgerlink.services.alerts import digests, rules
from ledgerlink.services.dialogue import bank_dialogue
from ledgerlink.services.insights import answer_cards  # spending answers as cards (issue 13, charts)
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.linking import chat_link
from ledgerlink.services.messaging import outgoing
from ledgerlink.services.messaging.ports import ThreadRecord
from ledgerlink.services.privacy import access_summary
from ledgerlink.services.privacy.rights import consents, downloadable_accounts
from ledgerlink.services.questions import answers, insight_commands, receipt_questions, refresh_command
from ledgerlink.services.questions.answers import answer
from ledgerlink.services.receipts import chat_commands, tracking  # issue 11: receipts

MAX_TEXT = 2000

# A reply: the text, and optional action buttons.
Reply = tuple[str, list[dict[str, str]]]
Handler = Callable[[Deps, Grant, ThreadRecord, "re.Match[str]"], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    example: str
    pattern: re.Pattern[str]
    handler: Handler
    accepts: Callable[[re.Match[str]], bool] = lambda match: True  # a second look, after the pattern


_COMMANDS: list[Command] = []


def command(name: str, example: str, pattern: str) -> Callable[[Handler], Handler]:
    """Register a command; patterns are matched against the lower-cased, trimmed text."""

    def register(handler: Handler) -> Handler:
        _COMMANDS.append(Command(name, example, re.compile(pattern), handler))
        return handler

    return register


def commands() -> list[Command]:
    return list(_COMMANDS)


def normalise(text: str) -> str:
    return " ".join(text.lower().replace("?", " ").replace("!", " ").split())


async def handle_text(deps: Deps, grant: Grant, thread_id: str, text: str) -> None:
    """Store the person's message in their thread, then answer it there. In a linked bank's
    thread, text that is no command goes to the bank's customer service instead."""
    text = text.strip()
    if not text:
        raise InvalidInput("the message is empty", code="empty_message")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"the message is longer than {MAX_TEXT} characters", code="message_too_long")
    token = chat_link.setup_token_in(text)  # a secret: stored redacted, never logged nor sent to a bank
    said, text = normalise(text), (chat_link.REDACTED if token else text)
    matched = None if token else next(((c, m) for c in _COMMANDS
                                       if (m := c.pattern.fullmatch(said)) and c.accepts(m)), None)
    async with deps.uow() as uow:
        thread = await access.read_thread(uow, grant, thread_id)
        # Bank dialogue: in a bank thread, what is no command goes to the bank's service.
        if matched is None and token is None and await bank_dialogue.wants_bank(uow, thread):
            await bank_dialogue.send_to_bank(deps, uow, grant, thread, text)
            await deps.commit_and_publish(uow)
            return
        body = {"text": text, "from": "person", "tone": "info", "actions": []}
        record = await outgoing.put_message(deps, uow, grant, thread, kind=CardKind.TEXT, body=body)
        assert record is not None
        await deps.commit_and_publish(uow)
    if token is not None:
        reply, actions = await chat_link.claim_pasted_token(deps, grant, thread, token)
    elif matched is not None:
        reply, actions = await matched[0].handler(deps, grant, thread, matched[1])
    else:
        reply, actions = _help(thread)
    async with deps.uow() as uow:
        await answer_cards.post(deps, uow, thread, reply, actions=actions)  # a chart section (issue 13)
        await deps.commit_and_publish(uow)


def _help(thread: ThreadRecord) -> Reply:
    lines = [f"• {c.example}" for c in _COMMANDS]
    lines.append("Anything else you write in a bank's thread goes to that bank's customer service.")
    intro = "I did not understand that. You can ask:" if thread.kind != ThreadKind.SYSTEM.value else (
        "You can ask:")
    return intro + "\n" + "\n".join(lines), []


@command("help", "help", r"(help|commands|what can i (ask|say)|menu|\?)")
async def _help_command(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    return _help(thread)[0].replace("I did not understand that. ", ""), []


command("link a bank", "link a bank", chat_link.LINK_PATTERN)(chat_link.link_command)  # linking/chat_link
command("refresh", "refresh", refresh_command.PATTERN)(refresh_command.refresh)  # questions/refresh_command


@command("balance", "balance", r"(?:.*\b)?balances?\b.*|how much (?:money )?(?:do )?i have.*")
async def _balance(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    async with deps.uow() as uow:
        views = await access.read_accounts(
            deps.vault, uow, grant, Purpose.ANSWER_QUESTION, at=deps.clock.now(), link_id=thread.link_id
        )
        links = {lk.id: lk for lk in await uow.links.for_person(grant.person_id)}
        await uow.commit()
    live = [v for v in views if v.link_id in links and links[v.link_id].status == "active"]
    if not live:
        return "No linked accounts yet.", [{"label": "Link a bank", "href": "/link"}]
    lines = []
    for v in live:
        if Scope.BALANCES.value not in links[v.link_id].scopes:
            lines.append(f"{account_label(v)}: balance not shared (you linked its transactions only)")
        elif v.balance is None:
            lines.append(f"{account_label(v)}: not available yet")
        else:
            line = f"{account_label(v)}: {fmt.money(v.balance.current)}"
            if v.balance.available is not None:
                line += f" (available {fmt.money(v.balance.available)})"
            lines.append(line)
    return "\n".join(lines), []


# --------------------------------------------------------------------------- the person's rights


@command("consents", "my consents", r"(?:show |list )?(?:my )?(?:consents?|links|linked banks)")
async def _consents(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    views = await consents(deps, grant)
    manage = [{"label": "Manage", "href": "/settings"}]
    if not views:
        return "You have not linked a bank yet.", [{"label": "Link a bank", "href": "/link"}, *manage]
    lines = []
    for c in views:
        line = f"{c.bank}: {c.status}, since {fmt.day(c.created_at.date())}"
        if c.status == "active" and c.expires_at is not None:
            line += f", until {fmt.day(c.expires_at.date())}"
        line += f" ({', '.join(c.scopes)})"
        if c.accounts:
            line += f"\n  {'; '.join(c.accounts)}"
        lines.append(line)
    return "\n".join(lines), manage


@command("export", "export my data", r"(?:export|download)(?: all)?(?: of)? my data|export")
async def _export(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    accounts = await downloadable_accounts(deps, grant)
    actions = [
        {"label": "All my data (JSON)", "href": "/settings/export.json"},
        {"label": "Transactions (CSV)", "href": "/settings/export.csv"},
    ]
    actions += [{"label": f"OFX ••{a.last4}", "href": f"/settings/export/{a.id}.ofx"} for a in accounts]
    return (
        "Your export is ready to download: everything we hold about you as JSON, your transactions "
        "as CSV, and an OFX statement per account for accounting software.",
        actions,
    )


@command("erase", "erase my data", r"(?:erase|delete|remove) (?:all )?(?:of )?my (?:data|account)")
async def _erase(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    return (
        "Erasing is final: your banks are unlinked, your encryption key is destroyed (so every copy "
        "of your data, backups included, becomes unreadable) and your account is deleted. You can "
        "export your data first. To go ahead, confirm on the settings page.",
        [{"label": "Erase my data…", "href": "/settings/erase"},
         {"label": "Export first", "href": "/settings#export"}],
    )


@command(
    "accesses",
    "who accessed my data",
    r"(who (has )?accessed my data|who (has )?(seen|read) my data|access log|audit log)",
)
async def _accesses(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    today, any_reads = await access_summary.chat_summary(deps, grant)  # grouped (issue 13)
    see_all = [{"label": "See all", "href": "/privacy/accesses"}]
    if not any_reads:
        return "Nobody has read your financial data yet. Every read will show up here.", see_all
    staff = today.staff_count
    by_staff = f"{staff} by a person at Ledgerlink" if staff else "none by a person"
    reads = ", ".join(today.parts()) or "No reads"
    return f"Today: {reads}; {by_staff}. See all: /privacy/accesses", see_all


# --------------------------------------------------------------------------- spending questions


async def _question(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    """Spending questions (domain/questions.py, answered in answers.py); text of these shapes
    that is not one gets help."""

    question = parse_question(match.string, today=deps.clock.now().date())
    if question is None:
        return _help(thread)
    if isinstance(question, NotUnderstood):
        return (f"I did not understand \"{question.part}\" as {question.what}. Try \"how much on coffee "
                "this week\", \"spending at Amazon last month\" or \"biggest purchases in November\".", [])
    return await answer(deps, grant, thread, question)


# Three shapes (three help lines), one parser: parse_question decides what was asked.
_SPEND_SHAPE = (r".*\b(?:spend|spent|spending|expenses?|paid|how much)\b.*|(?:my |the )?(?:"
                + CATEGORY_RE + r") (?:in|during|this|last|today|yesterday)\b.*")  # "groceries in October"
_LAST_SHAPE = r".*\b(?:transactions?|purchases?|payments?|charges?|activity)\b.*"
command("spending", "what did I spend on groceries in October", _SPEND_SHAPE)(_question)
command("last transactions", "last 5 transactions", _LAST_SHAPE)(_question)
command("recurring", "recurring charges", r".*\b(?:recurring|subscriptions?)\b.*")(_question)
command("compare", "compare October and November", r"compare .*")(_question)  # issue 13
command("biggest", "biggest purchases in November",
        r".*\b(?:biggest|largest|top|most expensive)\b.*")(_question)  # issue 13


# --------------------------------------------------------------------------- alert rules

_AMOUNT = r"(?P<amount>\$?\d[\d,]*(?:\.\d+)?)(?: [a-z]{3})?"
ALERT_LOW = (r"(?:tell|alert|notify|warn) me (?:when|if) (?P<what>.*?) ?(?:goes|drops|falls|gets|is) "
             r"(?:below|under) " + _AMOUNT)
ALERT_LARGE = (r"(?:tell|alert|notify|warn) me (?:about|of|when i make|if i make|on) (?:any )?"
               r"(?:purchases?|payments?|spending|charges?) (?:over|above|of more than|larger than) "
               + _AMOUNT)
ALERT_MUTE = r"(?P<op>mute|unmute) (?P<merchant>.+)"
ALERT_LIST = r"(?:show |list )?(?:my )?alerts?(?: rules| settings)?"
ALERT_TOGGLE = (r"(?P<op>stop|turn off|disable|no more|start|turn on|enable) "
                r"(?P<kind>deposit|fee|large purchase|low balance"
                r"|declined card|card declined|declined|decline|international purchase|international"
                r"|foreign purchase|foreign|online purchase|online|card-not-present|card not present)"
                r"s? alerts?")
# Other ways to name the message-template kinds: word -> alerts.KIND_WORDS value.
_TOGGLE_WORDS = {"declined": "declined card", "decline": "declined card", "card declined": "declined card",
                 "international": "international purchase", "foreign": "international purchase",
                 "foreign purchase": "international purchase", "online": "online purchase",
                 "card-not-present": "online purchase", "card not present": "online purchase"}
ALERT_HOME = (r"(?:set )?(?:my )?home country(?: is| to|:)? (?P<country>[a-z][a-z .,'()-]{1,79})")
_ACCOUNT_WORDS = {"checking": "checking", "savings": "savings", "credit": "credit_card",
                  "card": "credit_card"}
_SETTINGS_ACTION = [{"label": "Alert settings", "href": "/settings/alerts"}]


def alert_account_type(what: str) -> str | None:
    """The account type named in "checking goes below ...", or None for every account."""
    return next((t for word, t in _ACCOUNT_WORDS.items() if re.search(rf"\b{word}\b", what)), None)


async def _alert_low(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    amount = alerts.parse_amount(match["amount"])
    wanted = alert_account_type(match["what"])
    if wanted is None:
        await rules.set_threshold(deps, grant, alerts.LOW, amount)
        return f"Done: I'll tell you when any account's balance goes below {amount}.", _SETTINGS_ACTION
    view = await rules.overview(deps, grant)
    chosen = [a for a in view.accounts if a.type.value == wanted]
    if not chosen:
        return f"You have no {wanted.replace('_', ' ')} account linked.", _SETTINGS_ACTION
    for account in chosen:
        await rules.set_threshold(deps, grant, alerts.LOW, amount, account_id=account.id)
    names = ", ".join(account_label(a) for a in chosen)
    return f"Done: I'll tell you when {names} goes below {amount} {chosen[0].currency}.", _SETTINGS_ACTION


async def _alert_large(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    amount = alerts.parse_amount(match["amount"])
    await rules.set_threshold(deps, grant, alerts.LARGE, amount)
    return f"Done: I'll tell you about purchases over {amount}.", _SETTINGS_ACTION


async def _alert_mute(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    if not any(ch.isalnum() for ch in match["merchant"]):  # issue 13: an emoji is not a merchant
        raise InvalidInput(f"\"{match['merchant']}\" is not a merchant name I can mute.", code="bad_merchant")
    if match["op"] == "mute":
        name = await rules.mute(deps, grant, match["merchant"])
        reply = f"Muted: no large-purchase alerts for {name}. Say \"unmute {name}\" to undo."
        return reply + await answers.unknown_merchant_hint(deps, grant, thread, name), _SETTINGS_ACTION
    if await rules.unmute(deps, grant, match["merchant"]):
        return f"Unmuted {match['merchant']}: its large purchases alert you again.", _SETTINGS_ACTION
    return f"{match['merchant']} was not muted.", _SETTINGS_ACTION


async def _alert_list(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    lines = (await rules.overview(deps, grant)).lines()
    return "Your alerts:\n" + "\n".join(f"• {line}" for line in lines), _SETTINGS_ACTION


async def _alert_toggle(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    words = _TOGGLE_WORDS.get(match["kind"], match["kind"])
    kind = {words: kind for kind, words in alerts.KIND_WORDS.items()}[words]
    on = match["op"] in ("start", "turn on", "enable")
    await rules.set_enabled(deps, grant, kind, on)
    return f"{words.capitalize()} alerts are {'on' if on else 'off'}.", _SETTINGS_ACTION


async def _alert_home(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    """The home country of international-purchase alerts (message templates)."""

    said = match["country"].strip()
    if said in ("none", "reset", "auto", "automatic", "default"):
        await rules.set_home_country(deps, grant, "")
        return ("Done: purchases in a country that does not use your account's currency count as "
                "international.", _SETTINGS_ACTION)
    code = await rules.set_home_country(deps, grant, said)
    assert code is not None
    return f"Done: purchases outside {country_name(code)} count as international.", _SETTINGS_ACTION


def _explaining(handler: Handler) -> Handler:
    """A bad amount or merchant name is answered in the thread, not raised."""

    async def run(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
        try:
            return await handler(deps, grant, thread, match)
        except InvalidInput as exc:
            return str(exc), _SETTINGS_ACTION

    return run


command("alert low balance", "tell me when checking goes below 100", ALERT_LOW)(_explaining(_alert_low))
command("alert large purchase", "tell me about purchases over 300", ALERT_LARGE)(_explaining(_alert_large))
command("alert mute", "mute starbucks", ALERT_MUTE)(_explaining(_alert_mute))
command("alert list", "my alerts", ALERT_LIST)(_alert_list)
command("alert toggle", "stop deposit alerts", ALERT_TOGGLE)(_explaining(_alert_toggle))
command("alert home country", "my home country is Germany", ALERT_HOME)(_explaining(_alert_home))
# "...balance drops below 250" and "purchases over 300" would otherwise be taken by the
# balance and spending commands registered above: alert phrases are tried right after help.
_alerts_first = [c for c in _COMMANDS if c.name.startswith("alert ")]
_COMMANDS[:] = _COMMANDS[:1] + _alerts_first + [c for c in _COMMANDS[1:] if c not in _alerts_first]


# --------------------------------------------------------------------------- digests


async def _digest(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    return await digests.chat(deps, grant, match.string), [{"label": "Digest settings",
                                                            "href": "/settings/alerts#digest"}]


command("digest", "send me a daily digest at 8", r".*\bdigests?\b.*")(_explaining(_digest))
# "a daily digest with my balance" would otherwise be taken by the balance command: any line
# naming a digest is about digests, tried right after help.
_digest_first = [c for c in _COMMANDS if c.name == "digest"]
_COMMANDS[:] = _COMMANDS[:1] + _digest_first + [c for c in _COMMANDS[1:] if c not in _digest_first]

# --------------------------------------------------------------------------- insights (issue 13)

_ic = insight_commands
command("why category", "why is Chipotle restaurants", _ic.WHY)(_explaining(_ic.why))
command("correct category", "Chipotle is restaurants", _ic.CORRECT)(_explaining(_ic.correct))
command("budget", "budget 300 for restaurants", _ic.BUDGET_SET)(_explaining(_ic.set_budget))
command("budget remove", "remove budget for restaurants", _ic.BUDGET_REMOVE)(_explaining(_ic.remove_budget))
command("budgets", "budgets", _ic.BUDGET_LIST)(_ic.list_budgets)
# "Spotify is subscriptions" would otherwise be taken by the recurring command: tried after help.
_insights_first = [c for c in _COMMANDS if c.name in ("why category", "correct category", "budget",
                                                      "budget remove", "budgets")]
_COMMANDS[:] = _COMMANDS[:1] + _insights_first + [c for c in _COMMANDS[1:] if c not in _insights_first]
_COMMANDS.insert(1, Command("tracking number", tracking.EXAMPLE, tracking.PATTERN, tracking.reply,
                           tracking.wanted))
_COMMANDS[1:1] = [*(Command(*c) for c in chat_commands.COMMANDS), *receipt_questions.built(Command)]
