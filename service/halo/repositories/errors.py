"""Errors the data access layer raises instead of driver-specific exceptions."""

from __future__ import annotations


class DatabaseUnavailable(Exception):
    """PostgreSQL (or SQLite) could not be reached or did not answer in time."""


class UniqueViolation(Exception):
    """An insert or update broke a unique constraint; `field` names the column."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field
