"""The one description of a caller that every route and every audit row uses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from services.identity.models import Role


@dataclass(frozen=True)
class Principal:
    """A signed-in person (kind "user") or an integration token (kind "token")."""

    kind: str
    id: uuid.UUID
    name: str
    role: Role
    staff_id: str | None = None
    site: str | None = None
    time_zone: str = "UTC"
    ip: str | None = None
