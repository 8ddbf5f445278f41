"""Users and token revocations."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="RevokedToken",
            fields=[
                ("jti", fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ("expires_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "revoked_tokens",
                "app": "halo",
                "pk_attr": "jti",
                "table_description": "A logged-out token's `jti`, kept until the token would have expired anyway.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="User",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("email", fields.CharField(unique=True, max_length=254)),
                ("username", fields.CharField(max_length=30)),
                ("password_hash", fields.CharField(max_length=100)),
                ("display_name", fields.CharField(max_length=50)),
                ("bio", fields.CharField(null=True, max_length=500)),
                ("avatar_url", fields.CharField(null=True, max_length=2048)),
                ("is_adult", fields.BooleanField(default=False)),
                ("adult_mode", fields.BooleanField(default=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={"table": "users", "app": "halo", "pk_attr": "id"},
            bases=["Model"],
        ),
        # Usernames are unique case-insensitively, enforced by the database so
        # that two concurrent registrations cannot both win.
        ops.RunSQL(
            sql="CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username))",
            reverse_sql="DROP INDEX users_username_lower_key",
        ),
    ]
