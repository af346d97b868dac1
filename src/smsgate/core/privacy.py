"""What a message's ``log`` setting lets smsgate keep (Plivo's data-retention options)."""

from __future__ import annotations

#: ``log`` values under which phone numbers are masked, and under which the text is dropped.
HIDE_NUMBERS = frozenset({"false", "content_only"})
HIDE_CONTENT = frozenset({"false", "number_only"})
