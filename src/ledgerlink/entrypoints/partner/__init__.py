"""What banks and merchants call: signed bank events in, the partner API (aggregates, bank messages)."""
