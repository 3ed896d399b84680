"""Routes of this area; filled in as its pages are built."""

from typing import Any

ROUTES: list[Any] = []
