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
    """A logged-out token's `jti`, kept until the token would have expired anyway.

    `version` is the revocation's place in commit order (from `RevocationState`), so that the
    Redis cache can be checked against PostgreSQL: every revocation above its watermark."""

    jti = fields.CharField(max_length=64, primary_key=True)
    expires_at = fields.DatetimeField(db_index=True)
    version = fields.BigIntField(default=0, db_default=0, db_index=True)

    class Meta:
        table = "revoked_tokens"


class RevocationState(Model):
    """A single row: the version of the latest revocation, raised in each revocation's transaction."""

    id = fields.IntField(primary_key=True)
    version = fields.BigIntField(default=0)

    class Meta:
        table = "revocation_state"


class Video(Model):
    """Video metadata and the durable engagement counters.

    `view_count` holds flushed views; `view_flush_seq` is the last view batch
    applied to this row (views still in Redis belong to later batches).
    `like_count` and `comment_count` change in the same transaction as the
    like or comment row, and `counters_version` orders those changes so that
    the Redis copies never go back to an older value.
    """

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "halo.User", related_name="videos", on_delete=fields.CASCADE, db_index=False
    )  # (user_id, created_at, id) serves the foreign key too
    title = fields.CharField(max_length=200)
    description = fields.TextField(null=True)
    thumbnail_url = fields.CharField(max_length=2048, null=True)
    stream_url = fields.CharField(max_length=2048, null=True)
    is_live = fields.BooleanField(default=False)
    is_adult_content = fields.BooleanField(default=False)
    view_count = fields.BigIntField(default=0)
    view_flush_seq = fields.BigIntField(default=0)
    like_count = fields.BigIntField(default=0)
    comment_count = fields.BigIntField(default=0)
    counters_version = fields.BigIntField(default=0)
    # open, approval (comments by anyone but the owner are held) or closed
    comments_policy = fields.CharField(max_length=16, default="open", db_default="open")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "videos"


class Comment(Model):
    """A top-level comment (`parent` null) or a reply to one, one level deep; `reply_count`
    counts its published replies. A held comment waits for the video owner's approval."""

    id = fields.BigIntField(primary_key=True)
    video: fields.ForeignKeyRelation[Video] = fields.ForeignKeyField(
        "halo.Video", related_name="comments", on_delete=fields.CASCADE, db_index=False
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "halo.User", related_name="comments", on_delete=fields.CASCADE, db_index=True
    )
    parent: fields.ForeignKeyNullableRelation[Comment] = fields.ForeignKeyField(
        "halo.Comment", related_name="replies", on_delete=fields.CASCADE, null=True, db_index=False
    )  # indexed by a partial index of 0004 (replies in order)
    video_id: int  # the foreign keys' columns, as Tortoise sets them on every instance
    user_id: int
    parent_id: int | None
    body = fields.TextField()
    status = fields.CharField(max_length=16, default="published", db_default="published")
    reply_count = fields.BigIntField(default=0, db_default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    edited_at = fields.DatetimeField(null=True)

    class Meta:
        table = "comments"


class Like(Model):
    """One row per user and video: liking twice is one like."""

    id = fields.BigIntField(primary_key=True)
    video: fields.ForeignKeyRelation[Video] = fields.ForeignKeyField(
        "halo.Video", related_name="likes", on_delete=fields.CASCADE, db_index=False
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "halo.User", related_name="likes", on_delete=fields.CASCADE, db_index=True
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "likes"
        unique_together = (("video", "user"),)


class ViewFlushState(Model):
    """A single row: the highest view batch applied, the floor for new batch numbers."""

    id = fields.IntField(primary_key=True)
    applied_seq = fields.BigIntField(default=0)

    class Meta:
        table = "view_flush_state"
