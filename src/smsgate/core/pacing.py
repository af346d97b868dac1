"""Which rate limits apply to an API request and to a message being sent.

* API requests, per credential (``api:<credential>``): over the limit, the face answers 429
  with ``Retry-After``.
* Message parts, when the dispatcher hands a message to a channel: per source and per
  destination number (``src:``/``dst:``, the carriers' "10 messages a minute" rule), per
  account (``account:``) and per channel (``channel:``). Over any of them, the message waits
  in the queue until it may go; nothing fails for being paced.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from smsgate.channels.base import Channel
from smsgate.config import LimitSettings
from smsgate.core.limits import Limit, Limiter
from smsgate.core.metrics import Metrics
from smsgate.core.models import Account, Message
from smsgate.core.rates import Rate, parse_rate


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many requests: retry in {retry_after:.1f} s")
        self.retry_after = retry_after

    @property
    def header(self) -> str:
        return str(max(1, math.ceil(self.retry_after)))


class Pacing:
    def __init__(
        self,
        settings: LimitSettings,
        limiter: Limiter,
        channels: Mapping[str, Channel],
        metrics: Metrics | None = None,
    ) -> None:
        self.limiter = limiter
        self._metrics = metrics
        self._defaults = {
            "api_requests": parse_rate(settings.api_requests),
            "send_rate": parse_rate(settings.send_rate),
            "number_pace": parse_rate(settings.number_pace),
        }
        self._channels = {
            name: rate
            for name, channel in channels.items()
            if (rate := parse_rate(channel.options.send_rate)) is not None
        }
        self._parsed: dict[str, Rate | None] = {}

    def rate(self, account: Account | None, name: str) -> Rate | None:
        """The account's own ``name`` limit, or the setting's when it has none."""
        own: str | None = getattr(account, name) if account is not None else None
        if own is None:
            return self._defaults[name]
        if own not in self._parsed:
            self._parsed[own] = parse_rate(own)
        return self._parsed[own]

    async def admit(self, credential: str, account: Account | None) -> None:
        """Count an API request by ``credential``; RateLimited when it is one too many."""
        rate = self.rate(account, "api_requests")
        if rate is None:
            return
        wait = await self.limiter.take([Limit(f"api:{credential}", rate)])
        if wait:
            if self._metrics is not None:
                self._metrics.rate_limited.inc()
            raise RateLimited(wait)

    def sending(self, msg: Message, account: Account | None, channel: str) -> list[Limit]:
        limits = []
        pace = self.rate(account, "number_pace")
        if pace is not None:
            limits += [Limit(f"src:{msg.from_number}", pace), Limit(f"dst:{msg.to_number}", pace)]
        own = self.rate(account, "send_rate")
        if own is not None:
            limits.append(Limit(f"account:{msg.account_id}", own))
        through = self._channels.get(channel)
        if through is not None:
            limits.append(Limit(f"channel:{channel}", through))
        return limits

    async def hold(self, msg: Message, account: Account | None, channel: str) -> float:
        """0.0 when ``msg`` may go now (its parts are counted); else seconds to wait."""
        limits = self.sending(msg, account, channel)
        if not limits:
            return 0.0
        return await self.limiter.take(limits, cost=max(1, msg.units))
