"""The web application: HTMX pages and the JSON API, on the same services."""
