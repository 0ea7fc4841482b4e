"""SQL repository of a person's extra channels and their deliveries (see `ChannelRepository`)."""

from __future__ import annotations

from ledgerlink.adapters.db.repositories import _Repo


class SqlChannels(_Repo):
    """Channels (outbound webhook, email) and one delivery row per message revision."""
