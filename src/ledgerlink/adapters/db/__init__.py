"""SQL storage (SQLite by default, PostgreSQL at scale) behind the repository ports."""
