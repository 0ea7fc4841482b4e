"""A person's shop links, consents (with the signed receipt), confirmed aliases, orders and
parcels are in their export per the schema, never the shop's tokens; erasure tells the shop and
shreds them: a sealed row kept from before cannot be opened afterwards."""

from __future__ import annotations

import asyncio
import json

import jsonschema  # type: ignore[import-untyped]  # (matrix-nio brings it; no stubs)
import pytest
from tests.conftest import Stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_merchant_link import _consent, _link_shop
from tests.integration.test_person_rights import SCHEMA, _validate
from tests.integration.test_shop_receipts import _checkout, _shop

from ledgerlink.domain.privacy import Purpose
from ledgerlink.services.access.shop_receipts import store_alias
from ledgerlink.services.access.vault import PersonKeyMissing
from ledgerlink.services.privacy import rights


async def test_shop_links_consents_aliases_and_orders_are_exported_and_erasure_shreds_them(
        stack: Stack) -> None:
    grant, _thread_id = await _linked(stack)
    consent_id = await _link_shop(stack, grant)
    order, _acc = await _checkout(stack)
    for _ in range(100):  # the shop's signed order.placed comes over HTTP on its own schedule
        async with stack.deps.uow() as uow:
            held = await uow.shop_receipts.order("acme", order.order_ref)
        if held is not None and held.match_state == "matched":
            break
        await asyncio.sleep(0.1)
        await stack.container.drain()
    assert held is not None and held.match_state == "matched"
    async with stack.deps.uow() as uow:  # as a "Yes, that's it" stores it
        await store_alias(stack.deps.vault, uow, grant, Purpose.DELIVER_UPDATE, merchant_slug="acme",
                                 descriptor="ACME", shop="Acme Outfitters", at=stack.deps.clock.now())
        await uow.commit()

    data = await rights.export_person(stack.deps, grant)
    _validate(data, SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    [link] = data["shop_links"]
    assert (link["shop"], link["customer_id"]) == ("acme", "alice")
    [consent] = data["shop_consents"]
    assert (consent["id"], consent["link_id"], consent["status"]) == (consent_id, link["id"], "active")
    assert consent["scopes"] == ["orders", "shipments"] and consent["ended_by"] is None
    claims = stack.deps.receipts_jws.verify(consent["consent_receipt_jws"], stack.deps.signer.jwks(),
                                            now=stack.deps.clock.now())
    assert (claims["kind"], claims["consent_id"]) == ("merchant_link", consent_id)
    [alias] = data["shop_aliases"]
    assert (alias["shop"], alias["shop_name"], alias["descriptor"]) == ("acme", "Acme Outfitters", "ACME")
    [exported] = data["shop_orders"]
    assert (exported["order_ref"], exported["state"]) == (order.order_ref, "matched")
    held_consent = await _consent(stack, consent_id)
    everything = json.dumps(data)
    assert held_consent.state not in everything  # the OAuth state, and no token of any kind
    assert "access_token" not in everything and "refresh_token" not in everything
    actions = {(a["action"], a["subject"]) for a in data["audit"]}
    assert ("read_merchant_alias", f"merchant_alias:{alias['id']}") in actions

    async with stack.deps.uow() as uow:  # sealed rows as a backup would hold them
        [kept_alias] = await uow.shop_receipts.aliases(grant.person_id)
        kept_order = await uow.shop_receipts.order_by_id(held.id)
    assert kept_order is not None
    report = await rights.erase_person(stack.deps, grant)
    assert report.key_destroyed and report.shop_links_revoked == 1
    assert [g.revoked_by for g in _shop(stack).auth.grants_of("alice")] == ["client"]  # the shop was told
    for table in ("merchant_links", "merchant_consents", "merchant_aliases", "shop_orders"):
        assert report.rows_deleted[table] >= 1, table
    async with stack.deps.uow() as uow:
        assert await uow.shop_receipts.links_of(grant.person_id) == []
        assert await uow.merchant_consents.of_person(grant.person_id) == []
        assert await uow.shop_receipts.orders_of(grant.person_id) == []
    with pytest.raises(PersonKeyMissing):
        await stack.deps.vault.open(grant.person_id, kept_order.sealed, table="shop_orders",
                                    row_id=kept_order.id)
    with pytest.raises(PersonKeyMissing):
        await stack.deps.vault.open(grant.person_id, kept_alias.sealed, table="merchant_aliases",
                                    row_id=kept_alias.id)
