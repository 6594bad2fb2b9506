"""Alembic environment: runs on the connection carnet_core.db.migrate hands it."""

from alembic import context
from sqlmodel import SQLModel

from carnet_core.db.migrate import include_object_for

config = context.config
connection = config.attributes["connection"]

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=True,
    compare_type=True,
    include_object=include_object_for(config.attributes["prefixes"]),
)
with context.begin_transaction():
    context.run_migrations()
