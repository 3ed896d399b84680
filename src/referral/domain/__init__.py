"""Pure domain model: no database, no web, no Casbin."""
