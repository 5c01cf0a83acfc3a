from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import BigInteger, MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so Alembic migrations are the same on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    _column_keys: ClassVar[dict[type, frozenset[str]]] = {}

    def __init__(self, **values: Any) -> None:
        """A new entity holding `values`, as the ORM's own constructor would, without
        its attribute event per keyword (a tenth of a milestone's creation): the models
        have no relationships, so every keyword is a column, and an INSERT reads a new
        object's values from its dictionary (the ORM's flush as db/rows.py's queue)."""
        cls = type(self)
        keys = Base._column_keys.get(cls)
        if keys is None:
            mapper = cls.__mapper__
            if mapper.relationships:  # their keywords need the ORM's events (backrefs)
                raise TypeError(f"{cls.__name__} has relationships: give it the ORM's constructor")
            keys = Base._column_keys[cls] = frozenset(mapper.column_attrs.keys())
        for key in values.keys() - keys:
            raise TypeError(f"{key!r} is an invalid keyword argument for {cls.__name__}")
        self.__dict__.update(values)


# Money columns: integer micro-units (10^-6); never a float.
Micro = BigInteger
