"""The receipts capability's chat commands, tried right after help (registered in
services/questions/commands.py): (name, example, pattern, handler) each."""

from __future__ import annotations

from ledgerlink.services.receipts import address_command, shop_link_command

__all__ = ["COMMANDS"]

COMMANDS = [
    ("receipt address", *address_command.COMMAND),  # "my receipt address"
    ("link a shop", *shop_link_command.COMMAND),  # ADR 0031
    ("unlink a shop", *shop_link_command.UNLINK),  # ADR 0031: revoke from chat
]
