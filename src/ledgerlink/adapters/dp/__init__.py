"""Differential-privacy mechanisms (OpenDP)."""

from ledgerlink.adapters.dp.opendp_mech import OpenDpMechanism

__all__ = ["OpenDpMechanism"]
