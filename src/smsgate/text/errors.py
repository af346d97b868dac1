"""The errors of the text engine. Encoders raise EncodeError, decoders PduError; both are
ValueErrors and carry a message that names the problem."""

from __future__ import annotations


class EncodeError(ValueError):
    """A text or field that cannot be encoded as asked."""


class PduError(ValueError):
    """Bytes that are not a valid SMS PDU (or part of one)."""
