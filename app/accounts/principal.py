"""Who is calling: the authenticated API client, its organisation and its role."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What a client may do. Every route declares the roles it accepts (``require``)."""

    admin = "admin"  # organisations and API clients (the service operator)
    association = "association"  # the rules of its organisation's product families
    manufacturer = "manufacturer"  # its own bills of materials and footprints
    viewer = "viewer"  # read-only, within its own organisation


class OrgKind(StrEnum):
    operator = "operator"  # runs the service; holds the admin clients
    association = "association"
    manufacturer = "manufacturer"


# Which roles a client of each kind of organisation may have.
ROLES_BY_KIND: dict[OrgKind, frozenset[Role]] = {
    OrgKind.operator: frozenset({Role.admin, Role.viewer}),
    OrgKind.association: frozenset({Role.association, Role.viewer}),
    OrgKind.manufacturer: frozenset({Role.manufacturer, Role.viewer}),
}

ROLE_DESCRIPTIONS: dict[Role, str] = {
    Role.admin: "Manage organisations and API clients; read the audit log.",
    Role.association: "Maintain the rules of the organisation's product families.",
    Role.manufacturer: "Own bills of materials and footprints of the organisation.",
    Role.viewer: "Read-only access within the organisation.",
}


@dataclass(frozen=True)
class Principal:
    """The caller of a request, resolved from a valid access token and the database."""

    client_id: str
    org_id: uuid.UUID
    org_name: str
    org_kind: str
    role: Role
    families: frozenset[str] = frozenset()

    def owns_family(self, family: str) -> bool:
        """True when this is an association client whose organisation owns ``family``."""
        return self.role is Role.association and family in self.families
