"""Videos, comments, likes and the view-flush state, with the indexes the list queries need."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

# Each list sort walks one index in key order (keyset pagination), so a page
# costs `limit` index entries however deep the cursor is.
COMMON_INDEXES = [
    "CREATE INDEX videos_created_at_id_idx ON videos (created_at, id)",
    "CREATE INDEX videos_view_count_id_idx ON videos (view_count, id)",
    "CREATE INDEX videos_user_id_created_at_id_idx ON videos (user_id, created_at, id)",
    "CREATE INDEX videos_live_created_at_id_idx ON videos (created_at, id) WHERE is_live",
    "CREATE INDEX comments_video_id_created_at_id_idx ON comments (video_id, created_at, id)",
    "INSERT INTO view_flush_state (id, applied_seq) VALUES (1, 0)",
]
POSTGRES_INDEXES = [
    # `title` sorts by the binary order of the title, whatever the database's collation
    'CREATE INDEX videos_title_c_id_idx ON videos ((title COLLATE "C"), id)',
    # `q` is a case-insensitive substring of the title: trigram index for ILIKE '%...%'
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX videos_title_trgm_idx ON videos USING gin (title gin_trgm_ops)",
]
SQLITE_INDEXES = [
    "CREATE INDEX videos_title_id_idx ON videos (title, id)",  # SQLite compares text bytewise
]
DROP = [
    "DROP INDEX IF EXISTS videos_created_at_id_idx",
    "DROP INDEX IF EXISTS videos_view_count_id_idx",
    "DROP INDEX IF EXISTS videos_user_id_created_at_id_idx",
    "DROP INDEX IF EXISTS videos_live_created_at_id_idx",
    "DROP INDEX IF EXISTS comments_video_id_created_at_id_idx",
    "DROP INDEX IF EXISTS videos_title_c_id_idx",
    "DROP INDEX IF EXISTS videos_title_trgm_idx",
    "DROP INDEX IF EXISTS videos_title_id_idx",
]


async def create_indexes(apps, schema_editor) -> None:
    extra = POSTGRES_INDEXES if schema_editor.DIALECT == "postgres" else SQLITE_INDEXES
    for statement in COMMON_INDEXES + extra:
        await schema_editor.client.execute_script(statement)


async def drop_indexes(apps, schema_editor) -> None:
    for statement in DROP:
        await schema_editor.client.execute_script(statement)


class Migration(migrations.Migration):
    dependencies = [("halo", "0001_initial")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Video",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "user",
                    fields.ForeignKeyField(
                        "halo.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="videos",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("title", fields.CharField(max_length=200)),
                ("description", fields.TextField(null=True, unique=False)),
                ("thumbnail_url", fields.CharField(null=True, max_length=2048)),
                ("stream_url", fields.CharField(null=True, max_length=2048)),
                ("is_live", fields.BooleanField(default=False)),
                ("is_adult_content", fields.BooleanField(default=False)),
                ("view_count", fields.BigIntField(default=0)),
                ("view_flush_seq", fields.BigIntField(default=0)),
                ("like_count", fields.BigIntField(default=0)),
                ("comment_count", fields.BigIntField(default=0)),
                ("counters_version", fields.BigIntField(default=0)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "videos",
                "app": "halo",
                "pk_attr": "id",
                "table_description": "Video metadata and the durable engagement counters.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Comment",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "video",
                    fields.ForeignKeyField(
                        "halo.Video",
                        source_field="video_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="comments",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "halo.User",
                        source_field="user_id",
                        db_index=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="comments",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("body", fields.TextField(unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "comments", "app": "halo", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Like",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "video",
                    fields.ForeignKeyField(
                        "halo.Video",
                        source_field="video_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="likes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "halo.User",
                        source_field="user_id",
                        db_index=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="likes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "likes",
                "app": "halo",
                "unique_together": (("video", "user"),),
                "pk_attr": "id",
                "table_description": "One row per user and video: liking twice is one like.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ViewFlushState",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("applied_seq", fields.BigIntField(default=0)),
            ],
            options={
                "table": "view_flush_state",
                "app": "halo",
                "pk_attr": "id",
                "table_description": "A single row: the highest view batch applied, the floor for new batch numbers.",
            },
            bases=["Model"],
        ),
        ops.RunPython(create_indexes, drop_indexes),
    ]
