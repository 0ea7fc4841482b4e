"""The promise, as code: no purpose lets financial data be used for advertising."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from tests import pyast

import ledgerlink
from ledgerlink.domain.errors import Forbidden
from ledgerlink.domain.privacy import PURPOSE_DESCRIPTIONS, Purpose, parse_purpose

FORBIDDEN_WORDS = ("advert", "marketing", "profil", "sale", "sell", "targeting", "monetiz", "broker")
SRC = Path(ledgerlink.__file__).parent


def test_there_is_no_advertising_profiling_or_sale_purpose() -> None:
    for purpose in Purpose:
        for word in FORBIDDEN_WORDS:
            assert word not in purpose.value.lower(), f"forbidden purpose {purpose.value!r}"
            assert word not in PURPOSE_DESCRIPTIONS[purpose].lower()


def test_every_purpose_is_explained_in_plain_words() -> None:
    assert set(PURPOSE_DESCRIPTIONS) == set(Purpose)


def test_an_unknown_purpose_is_refused() -> None:
    with pytest.raises(Forbidden) as info:
        parse_purpose("ad_targeting")
    assert info.value.code == "unknown_purpose"


ACCESS_LAYER = "services/access/"  # the one package that seals and opens personal data
CRYPTO_ADAPTERS = "adapters/crypto/"  # implements KeyCrypto; knows bytes, not people
SEALERS = {"vault", "_vault", "crypto", "_crypto"}


def _receiver(node: ast.expr) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def test_only_the_access_layer_seals_or_opens_personal_data() -> None:
    """Sealed values are sealed and opened (vault.seal / vault.open, or the KeyCrypto under
    it) only inside the services/access/ package."""
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith((ACCESS_LAYER, CRYPTO_ADAPTERS, "sandbox/")):
            continue
        for node in ast.walk(pyast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in {"seal", "open"}
                and _receiver(node.value) in SEALERS
            ):
                offenders.append(f"{rel}:{node.lineno} {_receiver(node.value)}.{node.attr}")
    assert not offenders, f"sealed or opened personal data outside {ACCESS_LAYER}: {offenders}"


def test_the_check_above_would_catch_an_offender() -> None:
    source = "async def f(deps):\n    return await deps.vault.open('p', b'', table='t', row_id='r')\n"
    tree = pyast.parse(source)
    hits = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and n.attr == "open" and _receiver(n.value) in SEALERS
    ]
    assert hits


def _sealed_tables() -> set[str]:
    """Every table with a sealed column, from the table definitions themselves."""
    from ledgerlink.adapters.db.schema import metadata

    return {
        table.name
        for table in metadata.tables.values()
        if any(c.name.startswith("sealed") or c.name.endswith("_sealed") for c in table.columns)
    }


FINANCIAL_TABLES = _sealed_tables()
DATA_ACCESS_LAYER = ("adapters/db/",)


def test_the_sealed_table_list_is_complete() -> None:
    assert {
        "accounts",
        "transactions",
        "messages",
        "inbox",
        "links",
        "consent_receipts",
        "alert_rules",
        "person_channels",
        "digest_settings",
        "held_alerts",
    } <= FINANCIAL_TABLES


def test_only_the_data_access_layer_queries_financial_tables() -> None:
    """Outside adapters/db, no module names a financial table object or writes SQL against one."""
    sql = re.compile(r"\b(from|join|into|update)\s+(" + "|".join(sorted(FINANCIAL_TABLES)) + r")\b", re.I)
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(DATA_ACCESS_LAYER) or rel.startswith("sandbox/"):
            continue
        source = path.read_text()
        tree = pyast.parse(source)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("ledgerlink.adapters.db")
            ):
                names = {a.name for a in node.names}
                if names & (FINANCIAL_TABLES | {"schema", "metadata"}):
                    offenders.append(f"{rel}:{node.lineno} imports {sorted(names)}")
            if isinstance(node, ast.Import) and any(a.name.endswith("db.schema") for a in node.names):
                offenders.append(f"{rel}:{node.lineno} imports the table definitions")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and sql.search(node.value):
                offenders.append(f"{rel}:{node.lineno} raw SQL on a financial table")
    assert not offenders, offenders
