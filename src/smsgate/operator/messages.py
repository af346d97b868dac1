"""``smsgate messages tail``: follow message state changes live, from the store (so it sees
every gateway node that shares a PostgreSQL database)."""

from __future__ import annotations

import heapq
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import click
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from smsgate.core.clock import SystemClock
from smsgate.operator import tail as t
from smsgate.operator.common import read, store
from smsgate.store import events as q
from smsgate.store.database import Database

if TYPE_CHECKING:
    from smsgate.cli import Context

T = TypeVar("T")
Rows = list[dict[str, Any]]
PAGE = 1000
#: uuids fetched per query when reading the rows of new messages.
CHUNK = 500


class _Done(Exception):
    """Enough has been shown (``--count``, ``--until-final``)."""


class Tail:
    def __init__(
        self,
        db: Database,
        *,
        scope: q.Scope,
        since: t.Since,
        selection: t.Selection,
        followed: t.Followed,
        until_final: bool,
        count: int | None,
        as_json: bool,
        interval: float,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.db = db
        self.scope = scope
        self.since = since
        self.selection = selection
        self.followed = followed
        self.until_final = until_final
        self.count = count
        self.as_json = as_json
        self.interval = interval
        self.clock = clock or SystemClock().now_us
        self.shown = 0

    # --- showing ------------------------------------------------------------------------

    def handle(self, change: t.Change) -> None:
        if not self.selection.relevant(change):
            return
        self.followed.see(change)
        if not self.selection.shown(change):
            return
        if self.as_json:
            click.echo(json.dumps(t.record(change), ensure_ascii=False))
        else:
            click.echo(t.line(change))
        self.shown += 1
        if self.count is not None and self.shown >= self.count:
            raise _Done

    def settled(self) -> None:
        sys.stdout.flush()
        if self.until_final and self.followed.done:
            raise _Done

    # --- reading ------------------------------------------------------------------------

    def _read(self, work: Callable[[Connection], T]) -> T:
        with self.db.reader.connect() as conn:
            return work(conn)

    def _replayed_events(self, start_id: int, upto: int) -> Iterator[t.Change]:
        after = start_id - 1
        while True:
            page = partial(
                q.events,
                after=after,
                upto=upto,
                since=self.since.start,
                scope=self.scope,
                limit=PAGE,
            )
            rows = self._read(page)
            yield from (t.from_event(row) for row in rows)
            if len(rows) < PAGE:
                return
            after = int(rows[-1]["id"])

    def _replayed_messages(self, before: str) -> Iterator[t.Change]:
        after = None if self.since.start is None else t.uuid_floor(self.since.start)
        while True:
            page = partial(
                q.created, after_uuid=after, before_uuid=before, scope=self.scope, limit=PAGE
            )
            rows = self._read(page)
            for row in rows:
                if self.since.start is None or row["created_at"] >= self.since.start:
                    yield t.from_message(row)
            if len(rows) < PAGE:
                return
            after = str(rows[-1]["uuid"])

    def run(self) -> None:
        start_us = self.clock()
        high, present = self._read(lambda conn: q.snapshot(conn, t.START_WINDOW))
        cursor = t.IdCursor(high, present, now=time.monotonic())
        first = 0
        if self.since.replay and self.since.start is not None:
            since = self.since.start
            # A little below the bisected id: other nodes' clocks may differ a little (the
            # replay keeps only events made since the start anyway).
            found = self._read(lambda conn: q.first_event_id_since(conn, since))
            first = max(0, found - t.START_WINDOW)
        window = None
        if self.scope.uuids is None:
            floor = t.uuid_floor(start_us if not self.since.replay else (self.since.start or 0))
            window = t.CreationWindow(floor)
        click.echo("following message changes (Ctrl-C to stop)", err=True)
        if self.since.replay:
            before = t.uuid_floor(start_us + 1000)
            streams = [self._replayed_events(first, high), self._replayed_messages(before)]
            for change in heapq.merge(*streams, key=lambda c: c.sort_key):
                if window is not None and change.event_id is None:
                    window.mark(change.message_uuid)
                self.handle(change)
        self.settled()
        self._follow(cursor, window)

    def _poll(
        self, cursor: t.IdCursor, window: t.CreationWindow | None
    ) -> tuple[list[t.Change], list[t.Change], bool]:
        """New messages and new events; the cursor and the window move only once both are
        read, so a read that fails loses nothing."""
        now_us = self.clock()

        def work(conn: Connection) -> tuple[Rows, list[str], Rows]:
            # Events first: a message an event names was committed before it, so the
            # creations read next include it.
            rows = q.events(
                conn, after=cursor.high, also=cursor.also(), scope=self.scope, limit=PAGE
            )
            if window is None:
                return rows, [], []
            uuids = q.created_uuids(conn, after_uuid=window.floor(now_us), scope=self.scope)
            new = [uuid for uuid in uuids if uuid not in window.seen]
            made: Rows = []
            for start in range(0, len(new), CHUNK):
                made.extend(q.messages_named(conn, new[start : start + CHUNK]))
            return rows, new, made

        rows, new, made = self._read(work)
        fresh = set(cursor.take((int(row["id"]) for row in rows), time.monotonic()))
        changes = [t.from_event(row) for row in rows if int(row["id"]) in fresh]
        if window is not None:
            window.fresh(new, now_us)
        return [t.from_message(row) for row in made], changes, len(rows) >= PAGE

    def _follow(self, cursor: t.IdCursor, window: t.CreationWindow | None) -> None:
        failing = 0
        while True:
            try:
                made, changes, more = self._poll(cursor, window)
            except DBAPIError as exc:
                failing += 1
                if failing == 1:
                    click.echo(f"cannot read the store ({exc.orig}); retrying", err=True)
                time.sleep(min(5.0, self.interval * 2**failing))
                continue
            if failing:
                click.echo("reading the store again", err=True)
                failing = 0
            for change in sorted(made, key=lambda c: c.sort_key):
                self.handle(change)
            for change in changes:
                self.handle(change)
            self.settled()
            if not more:
                time.sleep(self.interval)


def _scope(db: Database, account: str | None, uuids: Sequence[str]) -> q.Scope:
    account_ids = None
    if account is not None:
        account_ids = read(db, lambda conn: q.account_ids(conn, account))
        if account_ids is None:
            raise click.ClickException(f"no account {account!r} in the store")
    return q.Scope(account_ids=account_ids, uuids=list(uuids) if uuids else None)


@click.group("messages")
def messages() -> None:
    """Messages in the store."""


@messages.command("tail")
@click.option(
    "--account", help="Only this account's messages (a main account's: its subaccounts' too)."
)
@click.option(
    "--number", "numbers", multiple=True, help="Only messages from or to this number (repeatable)."
)
@click.option(
    "--uuid",
    "uuids",
    multiple=True,
    help="Only this message (repeatable); shows its history first.",
)
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(t.STATES),
    help="Only changes to this state (repeatable).",
)
@click.option(
    "--since",
    help="now (the default), all, or minutes to replay first [with --uuid: all].",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option(
    "--until-final",
    is_flag=True,
    help="Exit once every message seen has reached a final state.",
)
@click.option("--count", type=click.IntRange(min=1), help="Exit after this many lines.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05, max=60),
    default=0.5,
    show_default=True,
    help="Seconds between looks at the store.",
)
@click.pass_obj
def tail_cmd(
    obj: Context,
    account: str | None,
    numbers: tuple[str, ...],
    uuids: tuple[str, ...],
    states: tuple[str, ...],
    since: str | None,
    as_json: bool,
    until_final: bool,
    count: int | None,
    interval: float,
) -> None:
    """Follow message state changes as they happen: one line per change.

    \b
      smsgate messages tail
      smsgate messages tail --account MA… --state failed --state undelivered
      smsgate messages tail --uuid 0190… --until-final

    Times are UTC. Numbers and texts are masked as each message's log setting asks.
    Reads the store, so it follows every gateway node that shares it."""
    settings = obj.settings()
    wanted_uuids = [u.strip().lower() for u in uuids if u.strip()]
    try:
        chosen = t.parse_since(since or ("all" if wanted_uuids else "now"), SystemClock().now_us())
    except t.SinceError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    followed = t.Followed()
    with store(settings) as db:
        scope = _scope(db, account, wanted_uuids)
        if wanted_uuids:
            found = read(db, lambda conn: q.messages_named(conn, wanted_uuids))
            missing = sorted(set(wanted_uuids) - {str(row["uuid"]) for row in found})
            if missing:
                raise click.ClickException(f"no message {', '.join(missing)} in the store")
            for row in found:
                followed.know(str(row["uuid"]), str(row["state"]))
        follower = Tail(
            db,
            scope=scope,
            since=chosen,
            selection=t.Selection(numbers, states),
            followed=followed,
            until_final=until_final,
            count=count,
            as_json=as_json,
            interval=interval,
        )
        try:
            follower.run()
        except _Done:
            pass
        except KeyboardInterrupt:
            pass
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, without a second error at exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except DBAPIError as exc:
            raise click.ClickException(f"cannot read the store: {exc.orig}") from None
        sys.stdout.flush()
