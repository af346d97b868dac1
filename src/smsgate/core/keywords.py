"""Standard keywords of inbound messages (STOP, START, HELP, …) and keyword-rule matching.

Pure: no I/O. A message's keyword is its first word, compared without case and without the
punctuation people add (``Stop.``, ``"STOP"``, ``stop!``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

OPTOUT, OPTIN, HELP = "optout", "optin", "help"
INTENTS = (OPTOUT, OPTIN, HELP)
_EDGE = re.compile(r"^[\W_]+|[\W_]+$")


def _folded(word: str) -> str:
    """Upper case, without accents: ``arrêt`` and ``ARRET`` are the same keyword."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def first_word(text: str) -> str:
    words = text.strip().split(maxsplit=1)
    return _EDGE.sub("", words[0]) if words else ""


@dataclass(frozen=True, slots=True)
class Keywords:
    """Per intent, per language, the words that mean it; and the replies, per language."""

    words: Mapping[str, Mapping[str, Sequence[str]]]
    replies: Mapping[str, Mapping[str, str]]

    def intent_of(self, text: str) -> tuple[str, str] | None:
        """``(intent, language)`` when ``text`` is a standard keyword, else None. Only a
        message that is the keyword alone counts: "stop by at noon" is not an opt-out."""
        words = text.strip().split()
        if len(words) != 1:
            return None
        word = _folded(first_word(text))
        if not word:
            return None
        for intent in INTENTS:
            for language, listed in self.words.get(intent, {}).items():
                if word in {_folded(w) for w in listed}:
                    return intent, language
        return None

    def reply(self, intent: str, language: str) -> str:
        """The reply to ``intent`` in ``language`` (English when there is none), or ""."""
        replies = self.replies.get(intent, {})
        return replies.get(language) or replies.get("en") or ""


def keyword_matches(keyword: str, text: str) -> bool:
    """Whether a rule's ``keyword`` takes ``text``. ``ABC.`` (a trailing dot or ``*``) is a
    prefix: it takes ``ABC.HELLO`` and ``abc.unicorn``; any other keyword must be the whole
    first word. ``""`` takes every message."""
    if not keyword:
        return True
    stripped = text.strip()
    if keyword.endswith(("*", ".")):
        prefix = keyword.rstrip("*")
        return _folded(stripped[: len(prefix)]) == _folded(prefix)
    return _folded(first_word(stripped)) == _folded(keyword)
