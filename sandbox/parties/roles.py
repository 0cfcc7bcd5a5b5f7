"""Organization kinds and user roles (DOMAIN.md, "Who uses it"), and which go together."""

from __future__ import annotations

import enum


class OrgKind(enum.StrEnum):
    BUREAU = "bureau"  # 数据局
    PROVIDER = "provider"  # 数据提供部门
    OPERATOR = "operator"  # 授权运营单位
    BANK = "bank"  # 使用方
    AUDITOR = "auditor"  # 审计

    @property
    def holds_data(self) -> bool:
        """Kinds that get a data domain of their own."""
        return self in (OrgKind.PROVIDER, OrgKind.BANK)

    @property
    def has_domain(self) -> bool:
        """Kinds that may run a domain: the data holders, and the bureau for the output gate
        (its domain holds per-job keys, never a dataset)."""
        return self.holds_data or self is OrgKind.BUREAU


class Role(enum.StrEnum):
    BUREAU_ADMIN = "bureau_admin"
    PROVIDER_CDO = "provider_cdo"  # 首席数据官
    OPERATOR = "operator"
    BANK_ANALYST = "bank_analyst"
    AUDITOR = "auditor"

    @property
    def org_kind(self) -> OrgKind:
        return _ROLE_KIND[self]

    @property
    def label(self) -> str:
        return _LABELS[self]


_ROLE_KIND = {
    Role.BUREAU_ADMIN: OrgKind.BUREAU,
    Role.PROVIDER_CDO: OrgKind.PROVIDER,
    Role.OPERATOR: OrgKind.OPERATOR,
    Role.BANK_ANALYST: OrgKind.BANK,
    Role.AUDITOR: OrgKind.AUDITOR,
}
_LABELS = {
    Role.BUREAU_ADMIN: "Data bureau administrator · 数据局",
    Role.PROVIDER_CDO: "Chief data officer · 首席数据官",
    Role.OPERATOR: "Licensed operator · 授权运营单位",
    Role.BANK_ANALYST: "Bank analyst · 使用方",
    Role.AUDITOR: "Auditor · 审计",
}
