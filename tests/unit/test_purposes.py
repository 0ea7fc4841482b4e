"""The promise, as code: no purpose lets financial data be used for advertising."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

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


def test_only_the_data_access_layer_opens_sealed_financial_data() -> None:
    """Sealed columns are opened (vault.open) only in services/access.py."""
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel in {"services/access.py", "services/vault.py"} or rel.startswith("sandbox/"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "open"
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "vault"
            ):
                offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, f"opened sealed data outside the access layer: {offenders}"


FINANCIAL_TABLES = {"accounts", "transactions", "messages", "inbox", "links", "consent_receipts"}
DATA_ACCESS_LAYER = ("adapters/db/",)


def test_only_the_data_access_layer_queries_financial_tables() -> None:
    """Outside adapters/db, no module names a financial table object or writes SQL against one."""
    sql = re.compile(r"\b(from|join|into|update)\s+(" + "|".join(FINANCIAL_TABLES) + r")\b", re.I)
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(DATA_ACCESS_LAYER) or rel.startswith("sandbox/"):
            continue
        source = path.read_text()
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("ledgerlink.adapters.db")
            ):
                names = {a.name for a in node.names}
                if names & (FINANCIAL_TABLES | {"schema", "metadata"}):
                    offenders.append(f"{rel}:{node.lineno} imports {sorted(names)}")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and sql.search(node.value):
                offenders.append(f"{rel}:{node.lineno} raw SQL on a financial table")
    assert not offenders, offenders
