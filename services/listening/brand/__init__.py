"""The brand's own accounts and their posts (never mentions, never customers)."""
