"""Database migrations (Tortoise ORM), shipped as `halo.migrations`."""
