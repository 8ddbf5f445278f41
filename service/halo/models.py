"""Tortoise ORM models: the tables PostgreSQL (or the embedded SQLite) owns.

Constraints that Tortoise cannot express (the case-insensitive username index,
binary-order title index, trigram search index) are created by the migrations
with raw SQL; the models are the shape of the rows.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class User(Model):
    id = fields.BigIntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    username = fields.CharField(max_length=30)
    password_hash = fields.CharField(max_length=100)
    display_name = fields.CharField(max_length=50)
    bio = fields.CharField(max_length=500, null=True)
    avatar_url = fields.CharField(max_length=2048, null=True)
    is_adult = fields.BooleanField(default=False)
    adult_mode = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "users"


class RevokedToken(Model):
    """A logged-out token's `jti`, kept until the token would have expired anyway."""

    jti = fields.CharField(max_length=64, primary_key=True)
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "revoked_tokens"
