"""The dashboard's chart: messages per hour by state, as the geometry of an SVG drawn by the
template (no script, so the Content-Security-Policy needs no exception)."""

from __future__ import annotations

from dataclasses import dataclass

from smsgate.core.clock import to_datetime

#: Stacked from the bottom up; anything else is drawn as ``other``.
STATES = ("delivered", "sent", "queued", "undelivered", "failed", "received")
WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 12, 28


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    state: str
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class Label:
    x: float
    text: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    left: int
    right: float
    base: float
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[Label]
    states: tuple[str, ...]
    #: One row per slot: its start and its count per state, for the table under the chart.
    rows: list[tuple[str, dict[str, int]]]
    totals: dict[str, int]


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, … that is at least ``value`` (and at least 1)."""
    if value <= 1:
        return 1
    power: int = 10 ** (len(str(value)) - 1)
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def build(counts: list[tuple[int, str, int]], since: int, bucket: int, buckets: int) -> Chart:
    """``counts`` are ``(slot, state, count)``; slot 0 starts at ``since``."""
    states = list(STATES)
    per_slot: list[dict[str, int]] = [dict.fromkeys(STATES, 0) for _ in range(buckets)]
    for slot, state, count in counts:
        if not 0 <= slot < buckets:
            continue
        name = state if state in STATES else "other"
        if name not in states:
            states.append(name)
        per_slot[slot][name] = per_slot[slot].get(name, 0) + count
    shown = tuple(states)
    top = nice_ceiling(max((sum(slot.values()) for slot in per_slot), default=0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    base = TOP + plot_h
    step = plot_w / buckets
    bars: list[Bar] = []
    labels: list[Label] = []
    rows: list[tuple[str, dict[str, int]]] = []
    for slot, values in enumerate(per_slot):
        start = to_datetime(since + slot * bucket)
        x = LEFT + slot * step
        y = float(base)
        hour = start.strftime("%H:%M")
        for state in shown:
            count = values.get(state, 0)
            if not count:
                continue
            height = count / top * plot_h
            y -= height
            bars.append(
                Bar(
                    round(x + 1, 2),
                    round(y, 2),
                    round(step - 2, 2),
                    round(height, 2),
                    state,
                    f"{hour} UTC: {count:,} {state}",
                )
            )
        if slot % 3 == 0:
            labels.append(Label(round(x + step / 2, 2), hour))
        rows.append((start.strftime("%Y-%m-%d %H:%M"), {s: values.get(s, 0) for s in shown}))
    every = top // 5 if top % 5 == 0 else top // 2 if top % 2 == 0 else top
    ticks = [
        Tick(round(base - plot_h * value / top, 2), f"{value:,}")
        for value in range(0, top + 1, every)
    ]
    totals = {state: sum(values.get(state, 0) for values in per_slot) for state in shown}
    return Chart(WIDTH, HEIGHT, LEFT, WIDTH - RIGHT, base, bars, ticks, labels, shown, rows, totals)
