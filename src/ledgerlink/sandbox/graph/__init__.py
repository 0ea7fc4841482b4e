"""A Graph API simulator: Facebook Messenger and WhatsApp as the platform would be, without
reaching Meta (issue 15). It plays the page and the business number, signs its webhook
deliveries with the app secret, and shows a clearly labelled simulated conversation where a
person types and taps. It knows only the domain, like the sandbox bank."""

from ledgerlink.sandbox.graph.app import create_graph_app
from ledgerlink.sandbox.graph.config import GraphSimConfig
from ledgerlink.sandbox.graph.sim import GraphSim

__all__ = ["GraphSim", "GraphSimConfig", "create_graph_app"]
