"""The spool file format: ``Key: value`` header lines, one empty line, the body.

smsd reads header names case-sensitively, ends the headers at the first empty line and trims
values; it writes CRLF nowhere but accepts it. Header lines are decoded as UTF-8 (Latin-1 where
they are not valid UTF-8: smsd copies numbers and texts into them); the body stays bytes, as
its encoding depends on the ``Alphabet`` header.
"""

from __future__ import annotations

from dataclasses import dataclass


class SpoolFileError(ValueError):
    """Bytes that are not a spool file (or not yet a whole one)."""


class Incomplete(SpoolFileError):
    """No empty line ends the headers: the file is still being written, or truncated."""


@dataclass(frozen=True, slots=True)
class SpoolFile:
    headers: tuple[tuple[str, str], ...]
    body: bytes
    #: Header lines that are not ``Key: value`` (kept out of ``headers``).
    garbage: int = 0

    def get(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]


def _line(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def parse(raw: bytes) -> SpoolFile:
    """Split ``raw`` into headers and body; Incomplete when no empty line ends the headers."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # smsd skips a UTF-8 byte order mark
    lines = []
    position = 0
    while True:
        end = raw.find(b"\n", position)
        if end < 0:
            raise Incomplete("no empty line after the headers")
        line = raw[position:end].rstrip(b"\r")
        position = end + 1
        if not line.strip():
            break
        lines.append(line)
    headers: list[tuple[str, str]] = []
    garbage = 0
    for line in lines:
        key, sep, value = _line(line).partition(":")
        key = key.strip()
        if not sep or not key or any(c.isspace() for c in key):
            garbage += 1
            continue
        headers.append((key, value.strip()))
    return SpoolFile(tuple(headers), raw[position:], garbage)


def render(headers: list[tuple[str, str]], body: bytes) -> bytes:
    """A spool file; a value may not hold a line break (it would start another header)."""
    out = []
    for key, value in headers:
        if "\n" in value or "\r" in value or "\n" in key or ":" in key:
            raise SpoolFileError(f"header {key!r} cannot hold {value!r}")
        out.append(f"{key}: {value}\n")
    return "".join(out).encode("utf-8") + b"\n" + body
