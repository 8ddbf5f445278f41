"""Indexes of comment threads, built without blocking writes.

On PostgreSQL `CREATE INDEX CONCURRENTLY`, which cannot run inside a transaction:
this migration is not atomic. A build that fails half-way leaves an invalid index
behind, so each one is dropped (concurrently, if there) before it is built; the
migration is only recorded once every index is in place, and a rerun starts over.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

# name -> (table and columns, partial condition)
INDEXES = {
    # a video's top-level comments by status, newest first (published list, held queue)
    "comments_top_level_idx": ("comments (video_id, status, created_at, id)", "parent_id IS NULL"),
    # a comment's replies, oldest first; also serves the cascade from a deleted parent
    "comments_replies_idx": ("comments (parent_id, status, created_at, id)", "parent_id IS NOT NULL"),
}


BUILD_TIMEOUT_SECONDS = 6 * 3600  # a build on a large table outlasts the pool's statement bound


async def _run(schema_editor, statement: str) -> None:
    if schema_editor.DIALECT != "postgres":
        await schema_editor.client.execute_script(statement)
        return
    async with schema_editor.client.acquire_connection() as connection:
        await connection.execute(statement, timeout=BUILD_TIMEOUT_SECONDS)


async def create_indexes(apps, schema_editor) -> None:
    concurrently = "CONCURRENTLY " if schema_editor.DIALECT == "postgres" else ""
    for name, (columns, condition) in INDEXES.items():
        await _run(schema_editor, f"DROP INDEX {concurrently}IF EXISTS {name}")
        await _run(schema_editor, f"CREATE INDEX {concurrently}{name} ON {columns} WHERE {condition}")


async def drop_indexes(apps, schema_editor) -> None:
    concurrently = "CONCURRENTLY " if schema_editor.DIALECT == "postgres" else ""
    for name in INDEXES:
        await _run(schema_editor, f"DROP INDEX {concurrently}IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("halo", "0003_comment_threads")]

    initial = False
    atomic = False  # CREATE INDEX CONCURRENTLY refuses to run in a transaction

    operations = [ops.RunPython(create_indexes, drop_indexes)]
