"""Revocation versions: each revocation's place in commit order, so the Redis cache can be checked.

`revocation_state` is one row whose `version` each revocation raises in its own transaction
(its row lock orders the revocations as they commit); `revoked_tokens.version` records it.
The column has a constant default (PostgreSQL adds it without rewriting the table; rows from
before read 0), so readers are not held up; the index build holds logouts only for as long
as it takes on a table that keeps only unexpired revocations.
"""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("halo", "0004_comment_thread_indexes")]

    initial = False

    operations = [
        ops.CreateModel(
            name="RevocationState",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("version", fields.BigIntField(default=0)),
            ],
            options={
                "table": "revocation_state",
                "app": "halo",
                "pk_attr": "id",
                "table_description": "A single row: the version of the latest revocation, raised in each "
                "revocation's transaction.",
            },
            bases=["Model"],
        ),
        ops.RunSQL(
            sql="INSERT INTO revocation_state (id, version) VALUES (1, 0)",
            reverse_sql="DELETE FROM revocation_state WHERE id = 1",
        ),
        ops.AddField(
            model_name="RevokedToken",
            name="version",
            field=fields.BigIntField(default=0, db_default=0, db_index=True),
        ),
    ]
