"""The JSON API under /api/: the same services, policies and audit as the pages.

`models` holds the request and response bodies the OpenAPI schema documents; each
other module is a group of thin handlers (parse body -> one service call -> model).
"""
