"""One adapter per external system, each behind a port defined in `ledgerlink.services.ports`."""
