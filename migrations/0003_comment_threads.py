"""Comment threads and moderation: replies (`parent_id`), `status`, `reply_count`, `edited_at` on
comments and `comments_policy` on videos.

Readers keep going while it runs: every new column is nullable or has a constant database
default, which PostgreSQL (11+) adds without rewriting the table, so the ALTERs hold their
locks for a moment only. Existing comments read as published top-level comments with no
replies; existing videos as `open`. The indexes come in 0004, built concurrently.
"""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("halo", "0002_videos_engagement")]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name="Comment",
            options={
                "table": "comments",
                "app": "halo",
                "pk_attr": "id",
                "table_description": "A top-level comment (`parent` null) or a reply to one, one level deep; `reply_count`",
            },
        ),
        ops.AddField(
            model_name="Comment",
            name="edited_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="Comment",
            name="parent",
            field=fields.ForeignKeyField(
                "halo.Comment",
                source_field="parent_id",
                null=True,
                db_constraint=True,
                to_field="id",
                related_name="replies",
                on_delete=OnDelete.CASCADE,
            ),
        ),
        ops.AddField(
            model_name="Comment",
            name="reply_count",
            field=fields.BigIntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name="Comment",
            name="status",
            field=fields.CharField(default="published", db_default="published", max_length=16),
        ),
        ops.AddField(
            model_name="Video",
            name="comments_policy",
            field=fields.CharField(default="open", db_default="open", max_length=16),
        ),
    ]
