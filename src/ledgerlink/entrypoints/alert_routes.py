"""HTTP routes of one feature (wired in ledgerlink.entrypoints.app)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
