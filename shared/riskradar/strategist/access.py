"""Who is asking, and what they may do: a principal from the claims of a verified JWT.

API Gateway's JWT authorizer has already checked the token (signature, issuer, audience, expiry)
before the function runs; a request without a valid token never gets here (401). This module reads
the claims that say what the holder may do and refuses the rest with 403 and a reason:

- **roles** (claim `roles` by default): `viewer` may read; `strategist` may also judge themes,
  merge them and record interventions;
- **businesses** (claim `businesses` by default): the businesses a strategist may act on. Absent or
  `*`: every business; present but empty: none (a list emptied by an administrator takes every
  business away, never grants them all). A verdict or a merge changes triage scores wherever the
  theme appears, so it needs every business the theme has reports in; a theme without reports in
  the current window (a dormant one) concerns businesses nobody can tell, so only a strategist for
  every business may act on it. An intervention needs its own business.

Claims may arrive as JSON arrays, as API Gateway's rendering of an array in the HTTP API event
(`"[viewer strategist]"`), or as space- or comma-separated strings (as OAuth scopes and many
identity providers' group claims are).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from riskradar.strategist.models import Role

ALL_BUSINESSES = "*"


class AccessDenied(Exception):
    """The token is valid but does not allow this action (HTTP 403)."""


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[Role]
    #: The businesses this principal may act on; None: every business.
    businesses: frozenset[str] | None

    @classmethod
    def from_claims(
        cls, claims: Mapping[str, Any], *, roles_claim: str = "roles", businesses_claim: str = "businesses"
    ) -> Principal:
        subject = str(claims.get("sub") or "").strip()
        if not subject:
            raise AccessDenied("the token has no subject ('sub' claim)")
        known = {role.value for role in Role}
        roles = frozenset(Role(name) for name in claim_values(claims.get(roles_claim)) if name in known)
        raw_businesses = claims.get(businesses_claim)
        listed = claim_values(raw_businesses)
        businesses = None if raw_businesses is None or ALL_BUSINESSES in listed else frozenset(listed)
        return cls(subject, roles, businesses)

    @property
    def role_names(self) -> tuple[str, ...]:
        return tuple(sorted(role.value for role in self.roles))

    def require_reader(self) -> None:
        if not self.roles:
            raise AccessDenied(
                "the token carries no riskradar role; it needs 'viewer' (read) or 'strategist' (read and act)"
            )

    def require_strategist(self, businesses: Iterable[str] | None) -> None:
        """Refuse unless this principal is a strategist for every one of `businesses` (None: the
        businesses concerned are unknown, which only a strategist for every business may act on)."""
        if Role.STRATEGIST not in self.roles:
            held = ", ".join(self.role_names) or "none"
            raise AccessDenied(f"this action needs the 'strategist' role; the token has: {held}")
        if self.businesses is None:
            return
        if businesses is None:
            raise AccessDenied(
                "this theme has no reports in the current window, so the businesses it concerns are "
                "unknown; only a strategist for every business may act on it"
            )
        outside = sorted(set(businesses) - self.businesses)
        if outside:
            allowed = ", ".join(sorted(self.businesses)) or "no business"
            raise AccessDenied(
                f"the token allows acting on {allowed} only; this action also concerns {', '.join(outside)}"
            )


def claim_values(value: Any) -> list[str]:
    """The items of a claim that holds a list, however the token or API Gateway rendered it."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(item).strip() for item in value if str(item).strip()]
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return claim_values(parsed)
        text = text[1:-1]  # API Gateway's "[a b c]"
    return [part for part in text.replace(",", " ").split() if part]
