"""Who is asking: the authenticated user, their organization and role, as a plain value."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.ids import OrgId, UserId
from sandbox.parties.models import User
from sandbox.parties.roles import OrgKind, Role


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: UserId
    username: str
    display_name: str
    org_id: OrgId
    org_slug: str
    org_name: str
    org_kind: OrgKind
    role: Role

    @classmethod
    def of(cls, user: User) -> Principal:
        return cls(
            user_id=UserId(user.id),
            username=user.username,
            display_name=user.display_name,
            org_id=OrgId(user.org_id),
            org_slug=user.org.slug,
            org_name=user.org.name,
            org_kind=OrgKind(user.org.kind),
            role=Role(user.role),
        )

    @property
    def oversees_all(self) -> bool:
        """The bureau manages and the auditor supervises: both see every row of metadata."""
        return self.role in (Role.BUREAU_ADMIN, Role.AUDITOR)
