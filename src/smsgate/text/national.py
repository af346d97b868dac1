"""Which national language tables a destination's handsets read.

Handsets sold where a language needs them support the matching TS 23.038 tables (Android, for
one, enables them by mobile country code); elsewhere a table would show the wrong characters,
so smsgate uses none.
"""

from __future__ import annotations

from smsgate.text.tables import LANGUAGES

_ID = {name: index for index, name in enumerate(LANGUAGES)}

#: ISO 3166 country -> national language ids its handsets support.
BY_COUNTRY: dict[str, tuple[int, ...]] = {
    "TR": (_ID["turkish"],),
    "ES": (_ID["spanish"],),
    "PT": (_ID["portuguese"],),
    "IN": tuple(
        _ID[name]
        for name in (
            "bengali",
            "gujarati",
            "hindi",
            "kannada",
            "malayalam",
            "oriya",
            "punjabi",
            "tamil",
            "telugu",
            "urdu",
        )
    ),
    "BD": (_ID["bengali"],),
    "PK": (_ID["urdu"],),
}


def language_ids(names: list[str] | tuple[str, ...]) -> tuple[int, ...]:
    """Ids for language names; raises ValueError naming an unknown one."""
    unknown = [name for name in names if name not in _ID or name == "default"]
    if unknown:
        known = ", ".join(LANGUAGES[1:])
        raise ValueError(f"unknown national language {unknown[0]!r} (known: {known})")
    return tuple(_ID[name] for name in names)


def for_country(country_iso2: str) -> tuple[int, ...]:
    return BY_COUNTRY.get(country_iso2.upper(), ())
