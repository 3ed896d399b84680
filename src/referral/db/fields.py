"""Which columns hold which data category, read from the tables' own tags."""

from functools import cache
from typing import Any

from sqlalchemy import inspect

from referral.db.base import Base
from referral.domain.vocabulary import Category


@cache
def categorised_columns(model: type[Base]) -> dict[str, Category]:
    """Attribute name -> category for every tagged column of a mapped class."""
    mapper = inspect(model)
    return {
        attr.key: Category(attr.columns[0].info["category"])
        for attr in mapper.column_attrs
        if "category" in attr.columns[0].info
    }


def category_of(model: type[Base], field: str) -> Category | None:
    return categorised_columns(model).get(field)


def is_filled(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple | set | dict):
        return bool(value)
    return value is not None
