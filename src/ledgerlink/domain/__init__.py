"""The pure model: money, banking, consent, chat, privacy. Standard library only."""
