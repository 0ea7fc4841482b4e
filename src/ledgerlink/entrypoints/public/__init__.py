"""Verification anyone can run, signed in or not: the audit log's proofs and tree heads."""
