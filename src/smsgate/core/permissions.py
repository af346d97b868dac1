"""Permissions: allow and deny rules on the destinations and sender IDs a sender may use.

Rules belong to a *subject*: an account (``account:<auth_id>``), or whoever submits within
one: a pass code (``passcode/<id>``) or a face's user (``smstools-api/<name>``). A send is
checked at every level it passes through: the main account, the subaccount, then the pass
code or user. At each level:

* a matching ``deny`` rule refuses;
* if the level has ``allow`` rules of that kind, one of them must match;
* a level with no rules of that kind allows everything.

Every level must allow a number for it to be used, so a subaccount or a pass code can only
narrow what its account may do. Destination patterns are those of ``core/patterns.py``
(numbers, ``*``/``?`` globs, two-letter countries); sender patterns are sender IDs or globs
over them, compared without regard to case.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from smsgate.core import patterns

_SENDER_PATTERN = re.compile(r"[A-Za-z0-9 *?.&'-]{1,20}")
_SUBJECT = re.compile(r"account:[MS]A[A-Z0-9]{18}|[a-z0-9-]{1,32}/[^\s/]{1,64}")


class Kind(StrEnum):
    DESTINATION = "destination"
    SENDER = "sender"


class Effect(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    subject: str
    kind: Kind
    effect: Effect
    pattern: str
    note: str = ""
    created_by: str = ""
    created_at: int = 0


def account_subject(auth_id: str) -> str:
    return f"account:{auth_id}"


def check_subject(raw: str) -> str:
    if not _SUBJECT.fullmatch(raw):
        raise ValueError(f"subject {raw!r}: use account:<auth_id>, passcode/<id> or <face>/<user>")
    return raw


def check_rule_pattern(kind: Kind, raw: str) -> str:
    """``raw`` as a pattern for rules of ``kind``, or ValueError saying what is wrong."""
    if kind is Kind.DESTINATION:
        return patterns.check_pattern(raw)
    pattern = raw.strip()
    if pattern.startswith("+"):
        pattern = pattern[1:]
    if not _SENDER_PATTERN.fullmatch(pattern):
        raise ValueError(
            f"sender pattern {raw!r}: use a sender ID (number or up to 11 letters and digits) "
            "with * and ?"
        )
    return pattern


def _matches(rule: Rule, value: str, country_iso2: str) -> bool:
    if rule.kind is Kind.DESTINATION:
        return patterns.matches(rule.pattern, value, country_iso2)
    return fnmatch.fnmatchcase(value.casefold(), rule.pattern.casefold())


def allows(rules: Sequence[Rule], kind: Kind, value: str, country_iso2: str = "") -> bool:
    """Whether one level's ``rules`` allow ``value`` (a number's digits, or a sender ID)."""
    relevant = [rule for rule in rules if rule.kind is kind]
    if any(r.effect is Effect.DENY and _matches(r, value, country_iso2) for r in relevant):
        return False
    allow = [rule for rule in relevant if rule.effect is Effect.ALLOW]
    return not allow or any(_matches(rule, value, country_iso2) for rule in allow)


@dataclass(frozen=True, slots=True)
class Levels:
    """The rules a send passes through, outermost first: ``(subject, rules)`` pairs."""

    levels: tuple[tuple[str, tuple[Rule, ...]], ...]

    @property
    def empty(self) -> bool:
        return not any(rules for _, rules in self.levels)

    def refuses(self, kind: Kind, value: str, country_iso2: str = "") -> str | None:
        """The first subject whose rules refuse ``value``, or None when all allow it."""
        for subject, rules in self.levels:
            if rules and not allows(rules, kind, value, country_iso2):
                return subject
        return None


NO_RULES = Levels(())
