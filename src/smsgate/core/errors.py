"""Error codes carried by messages (Plivo's SMS error codes) and the domain's exceptions."""

from __future__ import annotations

SUCCESS = "000"
INVALID_MESSAGE = "10"
NETWORK_ERROR = "20"
INVALID_SOURCE = "40"
INVALID_DESTINATION = "50"
DESTINATION_PERMANENTLY_UNAVAILABLE = "70"
DESTINATION_TEMPORARILY_UNAVAILABLE = "80"
NO_ROUTE = "90"
PROHIBITED_BY_CARRIER = "100"
MESSAGE_TOO_LONG = "110"
OPTED_OUT = "200"  # Plivo: source number blocked by STOP from destination
DISPATCH_FAILED = "300"
EXPIRED = "420"
UNKNOWN = "1000"


class InvalidParameter(ValueError):
    """A request parameter is missing or wrong; ``param`` names it as the face calls it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


class Forbidden(InvalidParameter):
    """The request is well formed, but its sender may not do it (a permission rule, an
    opted-out destination). Faces answer it as a refusal (Plivo: 403), not as a bad request."""
