"""The console's navigation: one entry per page, in the order the menu shows them.

A new page adds its entry here and passes its ``section`` to ``rendering.page`` so that the
menu marks it as current.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NavItem:
    section: str
    label: str
    path: str


NAV: tuple[NavItem, ...] = (
    NavItem("dashboard", "Dashboard", "/admin"),
    NavItem("messages", "Messages", "/admin/messages"),
    NavItem("accounts", "Accounts", "/admin/accounts"),
    NavItem("tokens", "Access tokens", "/admin/tokens"),
    NavItem("passcodes", "Pass codes", "/admin/passcodes"),
    NavItem("permissions", "Permissions", "/admin/permissions"),
    NavItem("limits", "Limits", "/admin/limits"),
    NavItem("numbers", "Numbers", "/admin/numbers"),
)
