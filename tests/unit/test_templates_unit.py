"""Message templates, unit by unit: the wire fields, the decline parser, the card-use rules,
the connection-health episodes, the plain-text renderings and the sandbox's declines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ledgerlink.domain import alerts
from ledgerlink.domain.alerts import AlertRule
from ledgerlink.domain.banking import (
    AccountType,
    AccountView,
    BankTransaction,
    Transaction,
    TransactionStatus,
)
from ledgerlink.domain.cards import plain_text, preview_text, transaction_card
from ledgerlink.domain.chat import CardKind
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.countries import currency_countries, find_country, is_country
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.money import Money
from ledgerlink.entrypoints.web.rendering import render_message
from ledgerlink.sandbox import OAuthClientConfig, SandboxBank, SandboxConfig
from ledgerlink.sandbox._ledger import Ledger
from ledgerlink.sandbox._model import CardDeclined
from ledgerlink.sandbox.merchants import ABROAD, by_name
from ledgerlink.services.dialogue.declines import decline_alert, parse_decline, subject_key
from ledgerlink.services.ingest.wire import parse_transaction
from ledgerlink.services.linking.connection_health import ATTENTION_AFTER, after_failure, after_success
from ledgerlink.services.messaging.ports import MessageView

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def _wire_txn(**changes: Any) -> dict[str, Any]:
    return {
        "transaction_id": "t1",
        "account_id": "a1",
        "status": "pending",
        "amount": "-42.00",
        "currency": "USD",
        "merchant_name": "Harrods",
        "descriptor": "HARRODS LONDON",
        "mcc": "5311",
        **changes,
    }


def _account(currency: str = "USD") -> AccountView:
    return AccountView(
        id="acc_1",
        link_id="lnk_1",
        partner_id="ptn_1",
        name="Everyday Checking",
        type=AccountType.CHECKING,
        currency=currency,
        last4="1234",
        balance=None,
    )


def _txn(
    amount: str = "-42.00",
    *,
    country: str | None = "GB",
    present: bool | None = True,
    merchant: str = "Harrods",
    currency: str = "USD",
) -> Transaction:
    return Transaction(
        id="txn_1",
        account_id="acc_1",
        person_id="prs_1",
        source_key="t1",
        pending_source_key=None,
        status=TransactionStatus.PENDING,
        amount=Money.parse(amount, currency),
        booking_date=None,
        value_date=date(2026, 11, 26),
        merchant=merchant,
        descriptor=merchant.upper(),
        mcc="5311",
        created_at=NOW,
        updated_at=NOW,
        merchant_country=country,
        card_present=present,
    )


def _switch(kind: str, *, on: bool = True, **params: Any) -> AlertRule:
    return AlertRule(id=f"alr_{kind}", kind=kind, account_id=None, params=params, enabled=on)


# --------------------------------------------------------------------------- the wire


def test_merchant_country_and_card_present_are_parsed_strictly() -> None:
    txn = parse_transaction(_wire_txn(merchant_country="GB", card_present=False))
    assert (txn.merchant_country, txn.card_present) == ("GB", False)
    assert parse_transaction(_wire_txn()).merchant_country is None  # optional: older banks
    for field, value, says in [
        ("merchant_country", "gb", "transaction.merchant_country must be an ISO 3166-1 alpha-2"),
        ("merchant_country", "EU", "transaction.merchant_country must be an ISO 3166-1 alpha-2"),
        ("merchant_country", 826, "transaction.merchant_country must be an ISO 3166-1 alpha-2"),
        ("card_present", "false", "transaction.card_present must be true or false"),
        ("card_present", 0, "transaction.card_present must be true or false"),
    ]:
        with pytest.raises(InvalidInput) as err:
            parse_transaction(_wire_txn(**{field: value}))
        assert str(err.value).startswith(says) and err.value.code == "malformed_payload"


def test_a_later_report_fills_in_where_the_card_was_used() -> None:
    txn = _txn(country=None, present=None)
    report = BankTransaction(
        "t1",
        "a1",
        TransactionStatus.POSTED,
        Money.parse("-42.00", "USD"),
        None,
        None,
        "Harrods",
        "HARRODS",
        "5311",
        merchant_country="GB",
        card_present=True,
    )
    assert txn.apply(report, at=NOW) and (txn.merchant_country, txn.card_present) == ("GB", True)


def test_countries_come_from_iso_3166_and_currency_areas_from_cldr() -> None:
    assert is_country("FR") and not is_country("fr") and not is_country("ZZ") and not is_country("EU")
    assert (
        find_country("germany") == "DE" and find_country("deu") == "DE" and find_country("Atlantis") is None
    )
    assert {"US", "PR", "EC"} <= currency_countries("USD", date(2026, 11, 26))
    euro = currency_countries("EUR", date(2026, 11, 26))
    assert {"DE", "FR", "IT"} <= euro and "GB" not in euro
    assert currency_countries("XYZ", date(2026, 11, 26)) == frozenset()


# --------------------------------------------------------------------------- declines


def _decline(**changes: Any) -> dict[str, Any]:
    decline = {
        "decline_id": "dcl_1",
        "merchant_name": "Harrods",
        "mcc": "5311",
        "amount": "75.00",
        "currency": "USD",
        "reason": "limit_exceeded",
        "at": "2026-11-26T10:00:00Z",
        "merchant_country": "GB",
        "card_present": True,
        **changes,
    }
    return {"decline": decline}


def test_a_decline_becomes_a_card_with_the_reason_in_plain_words() -> None:
    alert = decline_alert(parse_decline(_decline()), _account())
    assert alert.kind == alerts.DECLINED and alert.card is CardKind.DECLINED
    assert alert.subject_key == subject_key("dcl_1") and len(alert.subject_key) <= 96
    assert alert.text == (
        "Card declined at Harrods (in United Kingdom): 75.00 USD on Everyday Checking ••1234. "
        "It would have gone over the card's limit. Pay some of the card off, or pay another way."
    )
    body = {**alert.extra, "text": alert.text}
    assert plain_text(CardKind.DECLINED, body) == alert.text
    assert preview_text(CardKind.DECLINED, body, "amount_hidden").startswith("Card declined: Harrods")
    assert "Harrods" not in preview_text(CardKind.DECLINED, body, "merchant_hidden")
    online = decline_alert(
        parse_decline(_decline(merchant_country="US", card_present=False, merchant_name=None)), _account()
    )
    assert online.text.startswith("Card declined at a merchant (online): 75.00 USD")


def test_a_decline_id_longer_than_the_subject_column_still_gives_one_key() -> None:
    long_id = "d" * 128
    assert subject_key(long_id) == subject_key(long_id) != subject_key(long_id[:-1])
    assert len(subject_key(long_id)) <= 96


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"amount": "0"}, "data.decline.amount must be the positive amount"),
        ({"amount": 12.5}, "data.decline.amount must be a decimal string"),
        ({"currency": None}, "data.decline.currency is required"),
        ({"reason": "REASON"}, "data.decline.reason must be one of insufficient_funds"),
        ({"decline_id": ""}, "data.decline.decline_id must be a printable id"),
        ({"at": "2026-11-26T10:00:00"}, "data.decline.at must be an ISO 8601 instant with a UTC offset"),
    ],
)
def test_bad_declines_name_the_field(changes: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_decline(_decline(**changes))
    assert str(err.value).startswith(says), str(err.value)
    assert err.value.code == "malformed_payload"


# --------------------------------------------------------------------------- international / online


def test_a_purchase_outside_the_currency_area_is_international_and_online_is_off_by_default() -> None:
    alert = alerts.card_alert(_txn(), _account(), [])
    assert alert is not None and alert.kind == alerts.ABROAD and alert.subject_key == "alert:abroad:txn_1"
    assert (
        alert.text
        == "International purchase on Everyday Checking ••1234: Harrods in United Kingdom, 42.00 USD."
    )
    assert alerts.card_alert(_txn(country="US"), _account(), []) is None  # home
    assert alerts.card_alert(_txn(country="PR"), _account(), []) is None  # the dollar is tender there
    assert alerts.card_alert(_txn(country="FR", currency="EUR"), _account("EUR"), []) is None
    assert alerts.card_alert(_txn(country="US", present=False), _account(), []) is None  # online: off
    assert alerts.card_alert(_txn("42.00"), _account(), []) is None  # a refund is no purchase
    assert alerts.card_alert(_txn(country=None, present=None), _account(), []) is None  # not told


def test_the_switches_the_home_country_and_mutes_change_the_card_alerts() -> None:
    online_on = [_switch(alerts.ONLINE)]
    online = alerts.card_alert(_txn(country="US", present=False), _account(), online_on)
    assert online is not None and online.kind == alerts.ONLINE and "(card not present)" in online.text
    both = alerts.card_alert(_txn(country="GB", present=False), _account(), online_on)
    assert both is not None and both.kind == alerts.ABROAD and "International purchase online" in both.text
    assert alerts.card_alert(_txn(), _account(), [_switch(alerts.ABROAD, on=False)]) is None
    home_de = [_switch(alerts.ABROAD, home="DE")]
    assert alerts.card_alert(_txn(country="DE", currency="EUR"), _account("EUR"), home_de) is None
    french = alerts.card_alert(_txn(country="FR", currency="EUR"), _account("EUR"), home_de)
    assert french is not None and "in France" in french.text
    muted = [
        AlertRule(id="m", kind=alerts.MUTE, account_id=None, params={"merchant": "harrods"}, enabled=True)
    ]
    assert alerts.card_alert(_txn(), _account(), muted) is None
    assert alerts.enabled([], alerts.DECLINED) and not alerts.enabled([], alerts.ONLINE)


def test_the_transaction_card_names_a_foreign_country_and_an_online_purchase() -> None:
    card = transaction_card(_txn(country="GB", present=False), _account())
    assert (card["merchant_country"], card["country_name"], card["card_present"]) == (
        "GB",
        "United Kingdom",
        False,
    )
    assert plain_text(CardKind.TRANSACTION, card) == (
        "Pending: Harrods -42.00 USD (Everyday Checking ••1234), in United Kingdom online"
    )
    home = transaction_card(_txn(country="US"), _account())
    assert home["country_name"] is None
    assert plain_text(CardKind.TRANSACTION, home) == "Pending: Harrods -42.00 USD (Everyday Checking ••1234)"
    assert (
        preview_text(CardKind.TRANSACTION, card, "amount_hidden")
        == "Pending: Harrods (Everyday Checking ••1234)"
    )


# --------------------------------------------------------------------------- connection health


def test_a_refused_refresh_token_opens_an_episode_at_once_and_only_once() -> None:
    h, due = after_failure(None, link_id="lnk_1", person_id="prs_1", code="oauth_invalid_grant", now=NOW)
    assert due and h.episodes == 1 and h.attention_at == NOW and h.failing_since == NOW
    h, due = after_failure(
        h, link_id="lnk_1", person_id="prs_1", code="oauth_invalid_grant", now=NOW + timedelta(hours=1)
    )
    assert not due and h.failures == 2 and h.episodes == 1
    h, restored = after_success(h, now=NOW + timedelta(hours=2))
    assert restored and h.failures == 0 and h.attention_at is None and h.failing_since is None
    h, due = after_failure(
        h, link_id="lnk_1", person_id="prs_1", code="oauth_invalid_grant", now=NOW + timedelta(hours=3)
    )
    assert due and h.episodes == 2  # a new episode, a new card


def test_other_failures_need_half_an_hour_and_three_in_a_row() -> None:
    h = None
    seen = []
    for minutes in (0, 10, 20, 31, 40):
        h, due = after_failure(
            h, link_id="l", person_id="p", code="bank_unavailable", now=NOW + timedelta(minutes=minutes)
        )
        seen.append(due)
    assert seen == [False, False, False, True, False]
    assert timedelta(minutes=30) == ATTENTION_AFTER
    h2, _ = after_failure(None, link_id="l", person_id="p", code="bank_unavailable", now=NOW)
    h2, _ = after_failure(
        h2, link_id="l", person_id="p", code="bank_unavailable", now=NOW + timedelta(hours=2)
    )
    h2, restored = after_success(h2, now=NOW + timedelta(hours=2))
    assert not restored and h2.failures == 0  # recovered before anyone was told: nothing to say
    h2, due = after_failure(
        h2, link_id="l", person_id="p", code="bank_unavailable", now=NOW + timedelta(hours=3)
    )
    assert not due and h2.failing_since == NOW + timedelta(hours=3)  # the run starts over


# --------------------------------------------------------------------------- the sandbox bank


def test_the_sandbox_declines_what_a_card_cannot_pay_and_books_nothing() -> None:
    ledger = Ledger(seed=4, now=NOW)
    checking = next(a for a in ledger.accounts_of("alice") if a.type == "checking")
    card = next(a for a in ledger.accounts_of("alice") if a.type == "credit_card")
    log_before = {k: list(v) for k, v in ledger.log.items()}
    txns_before = dict(ledger.txns)
    cases = [
        (checking, ledger.available(checking.account_id) + Decimal("0.01"), "insufficient_funds"),
        (card, ledger.available(card.account_id) + 1, "limit_exceeded"),
    ]
    for acc, amount, reason in cases:
        with pytest.raises(CardDeclined) as err:
            ledger.purchase(
                "alice",
                now=NOW,
                account_id=acc.account_id,
                merchant=by_name("Best Buy"),
                amount=amount,
                authorise=True,
            )
        assert err.value.status == 402 and err.value.decline.reason == reason
        wire = err.value.decline.wire()
        parsed = parse_decline({"decline": wire})  # the platform reads what the sandbox sends
        assert parsed.amount == Money.parse(str(amount.quantize(Decimal("0.01"))), acc.currency)
        assert parsed.merchant_country == "US" and parsed.card_present is True
    checking.frozen = True
    with pytest.raises(CardDeclined) as frozen:
        ledger.purchase(
            "alice", now=NOW, account_id=checking.account_id, amount=Decimal("1.00"), authorise=True
        )
    assert frozen.value.decline.reason == "card_frozen"
    assert ledger.txns == txns_before and ledger.log == log_before and len(ledger.declines) == 3
    checking.frozen = False
    fine = ledger.purchase(
        "alice",
        now=NOW,
        account_id=checking.account_id,
        merchant=by_name("Harrods"),
        amount=Decimal("10.00"),
        authorise=True,
    )
    assert (fine.wire()["merchant_country"], fine.wire()["card_present"]) == ("GB", True)
    assert fine.descriptor == "HARRODS LONDON"


def test_the_simulator_makes_the_odd_foreign_purchase_and_meets_the_odd_decline() -> None:
    clock = FrozenClock(NOW)
    bank = SandboxBank(
        SandboxConfig(
            seed=42,
            simulate=False,
            clock=clock,
            clients=[
                OAuthClientConfig(
                    client_id="c",
                    client_secret="s",
                    redirect_uris=["http://127.0.0.1/cb"],
                    webhook_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                )
            ],
        )
    )
    for _ in range(600):
        clock.advance(timedelta(minutes=7))
        bank.step()
    txns = bank.ledger.txns.values()
    assert {t.merchant_name for t in txns if t.merchant_country not in (None, "US", "DE")} & {
        m.name for m in ABROAD
    }
    assert any(t.card_present is False for t in txns)
    assert any(d.reason == "insufficient_funds" for d in bank.ledger.declines.values())
    assert all(d.decline_id not in bank.ledger.txns for d in bank.ledger.declines.values())


# --------------------------------------------------------------------------- rich rendering


def _view(kind: CardKind, body: dict[str, Any]) -> MessageView:
    return MessageView(
        id="msg_1",
        thread_id="thr_1",
        seq=1,
        rev=1,
        kind=kind,
        subject_key=None,
        body=body,
        created_at=NOW,
        edited_at=None,
    )


def test_the_web_messenger_renders_a_declined_card_and_where_a_card_was_used() -> None:
    alert = decline_alert(parse_decline(_decline(card_present=False)), _account())
    body = {
        **alert.extra,
        "text": alert.text,
        "tone": "warning",
        "held": False,
        "actions": [
            {"label": "Alert settings", "href": "/settings/alerts"},
            {"label": "Evil", "href": "https://example.com/"},
        ],
    }
    html = render_message(_view(CardKind.DECLINED, body))
    assert 'data-testid="declined-card"' in html and "Card declined" in html
    assert "$75.00" in html and "Harrods" in html and "over the card&#39;s limit" in html
    assert "United Kingdom" in html and "Online" in html and 'href="/settings/alerts"' in html
    assert "example.com" not in html  # actions link inside the app only
    txn = render_message(_view(CardKind.TRANSACTION, transaction_card(_txn(present=False), _account())))
    assert 'data-testid="txn-country">United Kingdom<' in txn and 'data-testid="txn-online"' in txn
    home = render_message(_view(CardKind.TRANSACTION, transaction_card(_txn(country="US"), _account())))
    assert "txn-country" not in home and "txn-online" not in home
