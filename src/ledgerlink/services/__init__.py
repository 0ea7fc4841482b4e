"""Use cases: ports (Protocols), the message bus, access functions and handlers."""
