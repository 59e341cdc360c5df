"""The terminal: tables, JSON, messages and confirmations (rich and questionary, lazily)."""
