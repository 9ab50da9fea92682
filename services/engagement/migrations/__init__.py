"""engagement's schema migrations (Alembic; `python -m rapport migrate --help`)."""
