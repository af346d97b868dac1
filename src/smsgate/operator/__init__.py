"""Operator commands that work against a running gateway or its store: ``smsgate send``,
``smsgate messages tail`` and ``smsgate rules``. ``register`` adds them to the ``smsgate``
command group."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    from smsgate.operator.messages import messages
    from smsgate.operator.rules import rules
    from smsgate.operator.send import send

    group.add_command(send)
    group.add_command(messages)
    group.add_command(rules)
