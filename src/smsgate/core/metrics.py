"""Prometheus metrics, in a registry of the gateway's own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.messages = Counter(
            "smsgate_messages",
            "Messages that reached a state, by direction, state and channel",
            ["direction", "state", "channel"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "smsgate_queue_depth", "Outbound messages waiting in the queue", registry=self.registry
        )
        self.accept_seconds = Histogram(
            "smsgate_accept_seconds",
            "Time to validate and durably store a send request",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.callbacks = Counter(
            "smsgate_callbacks",
            "Callback attempts by outcome (delivered, retry, failed)",
            ["outcome"],
            registry=self.registry,
        )
        self.paced = Counter(
            "smsgate_messages_paced",
            "Claimed messages put back in the queue by a sending rate limit, by channel",
            ["channel"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "smsgate_api_rate_limited",
            "API requests refused with 429 for their credential's rate limit",
            registry=self.registry,
        )
        self.channel_up = Gauge(
            "smsgate_channel_up", "1 when the channel is up", ["channel"], registry=self.registry
        )
        self.smpp_binds = Counter(
            "smsgate_smpp_binds",
            "SMPP server bind requests by outcome (bound, refused)",
            ["outcome"],
            registry=self.registry,
        )
