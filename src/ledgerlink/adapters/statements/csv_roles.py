"""Which CSV column is which: a shipped profile's names, else header names in several languages
(`csv_columns.NAMES`), else what the cells hold (dates, amounts, a debit/credit marker, two
exclusive debit and credit columns, the longest text)."""

from __future__ import annotations

import re

from ledgerlink.adapters.statements import csv_columns as cols
from ledgerlink.adapters.statements._common import parse_amount
from ledgerlink.adapters.statements.csv_profiles import Profile


def cell(row: list[str], index: int) -> str:
    return row[index].strip() if index < len(row) else ""


def from_profile(profile: Profile, header: tuple[str, ...]) -> dict[str, int]:
    names = [cols.norm(h) for h in header]
    roles: dict[str, int] = {}
    for role in (
        "date",
        "description",
        "amount",
        "debit",
        "credit",
        "payee",
        "id",
        "balance",
        "value_date",
        "currency",
        "direction",
        "account",
        "status",
    ):
        column = getattr(profile, role)
        if column is None:
            continue
        if isinstance(column, int):
            roles[role] = column
        else:
            wanted = cols.norm(column)
            matches = [i for i, n in enumerate(names) if n == wanted]
            if matches:
                roles[role] = matches[0]
    return roles


def from_names(header: tuple[str, ...], body: list[list[str]]) -> dict[str, int]:
    names = [cols.norm(h) for h in header]
    roles: dict[str, int] = {}
    # A column named right but empty in every row (a "Dátum" beside the filled "Könyvelés dátuma")
    # is no candidate.
    taken: set[int] = {i for i in range(len(header)) if not any(cell(r, i) for r in body[:5000])}
    for role in (
        "value_date",
        "date",
        "direction",
        "debit",
        "credit",
        "amount",
        "balance",
        "currency",
        "id",
        "account",
        "status",
        "description",
        "payee",
    ):
        for wanted in cols.NAMES[role]:
            found = next((i for i, n in enumerate(names) if n == wanted and i not in taken), None)
            if found is not None:
                roles[role] = found
                taken.add(found)
                break
    if "amount" not in roles and ("debit" in roles) != ("credit" in roles):
        roles["amount"] = (
            roles.pop("debit") if "debit" in roles else roles.pop("credit")
        )  # one signed ("Inflow")
    return roles


def from_cells(roles: dict[str, int], body: list[list[str]], width: int) -> None:
    """Fill the roles the names did not give from what the cells hold. Amounts first: the rows
    with an amount are the transactions, and only their cells say which column holds dates (a
    "total" or a note line in the date column is no reason to miss it)."""
    width = max([width, *(len(r) for r in body[:5000]), *(i + 1 for i in roles.values())])
    columns = [[cell(r, i) for r in body[:5000]] for i in range(width)]
    taken = set(roles.values())
    amounts = [i for i, c in enumerate(columns) if i not in taken and _amount_like(c)]
    money_cols = [roles[k] for k in ("amount", "debit", "credit") if k in roles] or amounts
    rows = [k for k in range(len(columns[0]) if columns else 0) if any(columns[i][k] for i in money_cols)]
    dates = [
        i
        for i, c in enumerate(columns)
        if i not in taken and any(c[k] for k in rows) and cols.fitting_formats([c[k] for k in rows])
    ]
    if "date" not in roles and dates:
        roles["date"] = dates.pop(0)
        taken.add(roles["date"])
    if "value_date" not in roles and dates and dates[0] not in taken:
        roles["value_date"] = dates[0]
        taken.add(dates[0])
    amounts = [i for i in amounts if i not in taken]
    if not ("amount" in roles or ("debit" in roles and "credit" in roles)):
        _amount_roles(roles, columns, amounts, taken)
    if "description" not in roles:
        texts = [i for i, c in enumerate(columns) if i not in set(roles.values()) and any(c)]
        if texts:
            roles["description"] = max(texts, key=lambda i: sum(len(v) for v in columns[i]))


def _amount_roles(
    roles: dict[str, int], columns: list[list[str]], amounts: list[int], taken: set[int]
) -> None:
    markers = [
        i
        for i, c in enumerate(columns)
        if i not in taken and cols.markers_of({v.lower() for v in c if v}) is not None
    ]
    signed = [
        i for i in amounts if any(v.lstrip().startswith("-") or v.rstrip().endswith("-") for v in columns[i])
    ]
    pair = next(
        (
            (a, b)
            for a in amounts
            for b in amounts
            if a < b
            and any(columns[a])
            and any(columns[b])
            and not any(x and y for x, y in zip(columns[a], columns[b], strict=True))
        ),
        None,
    )
    if signed:
        roles["amount"] = signed[0]
    elif markers and amounts:
        roles["amount"], roles["direction"] = amounts[0], markers[0]
    elif pair is not None:
        # Which of two exclusive columns is money out is not written anywhere: the fuller one is
        # taken as debits (people spend more often than they are paid) and the preview shows it.
        a, b = pair
        fuller = a if sum(map(bool, columns[a])) >= sum(map(bool, columns[b])) else b
        roles["debit"], roles["credit"] = fuller, (b if fuller == a else a)
    elif amounts:
        roles["amount"] = amounts[0]


def _amount_like(cells: list[str]) -> bool:
    filled = [c for c in cells if c]
    if not filled or not all(parse_amount(c) is not None for c in filled):
        return False
    # An account or card number, an ISO date or a reference is digits too: amounts have decimals
    # somewhere, or are short.
    return any(re.search(r"[.,]\d{1,3}\D*$", c) for c in filled) or all(
        len(c.lstrip("+-")) <= 6 for c in filled
    )
