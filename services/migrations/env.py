"""Alembic environment: the URL comes from DATABASE_URL (or `-x url=...`), never from a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import services.cases.models
import services.deadletter
import services.incidents.models
import services.outbox
import services.paging.models
import services.people.models
import services.schedules.models  # noqa: F401
from services.config import get_settings
from services.db import Base

url = context.get_x_argument(as_dictionary=True).get("url") or get_settings().database_url

engine = create_engine(url, hide_parameters=True)  # values never reach a log
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
