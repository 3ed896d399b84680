"""Persistence: SQLAlchemy tables, engines, sealing and repositories."""
