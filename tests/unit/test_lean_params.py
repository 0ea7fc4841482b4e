"""The lean path's parameter lookup (`Plan.values`, done once per plan) gives what SQLAlchemy's
`construct_params` gives, for every statement registered with `lean()`: given values under a
bind's key or its compiled name, the statement's own values (LIMIT 1), and an error when a
required value is missing."""

from __future__ import annotations

import importlib
import pkgutil
import random

import pytest
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import InvalidRequestError

import ledgerlink.adapters.db as db
from ledgerlink.adapters.db import lean


def _plans() -> list[lean.Plan]:
    for module in pkgutil.iter_modules(db.__path__):
        if module.name != "migrations":
            importlib.import_module(f"ledgerlink.adapters.db.{module.name}")
    dialect = sqlite.dialect()
    plans = []
    for statement in list(lean._REGISTERED.values()):
        keys = frozenset(c.key for c in statement.table.c) if statement.is_dml else frozenset()
        plan = lean.plan_for(statement, dialect, keys)
        if plan is not None:
            plans.append(plan)
    return plans


PLANS = _plans()


def test_most_registered_statements_take_the_one_time_lookup() -> None:
    assert len(PLANS) > 40
    assert sum(p.slots is not None for p in PLANS) == len(PLANS)


@pytest.mark.parametrize("seed", range(3))
def test_values_are_what_construct_params_gives(seed: int) -> None:
    rng = random.Random(seed)
    for plan in PLANS:
        assert plan.slots is not None
        given: dict[str, object] = {}
        for slot in plan.slots:
            if slot.default is lean._REQUIRED or rng.random() < 0.5:
                given[slot.key if rng.random() < 0.8 else slot.name] = f"{slot.name}-{rng.random()}"
        given["not_a_parameter"] = 1
        built = plan.compiled.construct_params(dict(given))
        assert plan.values(given) == tuple(built[name] for name in plan.names), plan.sql


def test_a_missing_required_value_is_sqlalchemys_error() -> None:
    plan = next(p for p in PLANS if p.slots and any(s.default is lean._REQUIRED for s in p.slots))
    with pytest.raises(InvalidRequestError, match="A value is required"):
        plan.values({})
