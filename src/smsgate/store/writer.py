"""Group commit: every write joins a shared transaction, run on the writer's own thread.

Callers ``await writer.run(fn)`` (any work on the connection) or ``await writer.insert(rows)``
(new rows, by table). The writer takes everything waiting at that moment and runs it in one
transaction: the rows of every ``insert`` first, merged into one multi-row INSERT per table,
then each ``run`` function in arrival order; then it commits once. A thousand concurrent
requests cost a few statements and one fsync, not thousands. Each caller's future resolves
only after the commit, so what it wrote is durable. If anything fails the transaction is
rolled back and the batch is run again one item per transaction, so only the failing caller
sees the error. Work functions touch only the connection: they may run more than once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table

from smsgate.store.database import store_unavailable

T = TypeVar("T")
Work = Callable[[Connection], Any]
Rows = Mapping[Table, list[dict[str, Any]]]


class WriterStopped(RuntimeError):
    pass


@dataclass(slots=True)
class _Item:
    future: asyncio.Future[Any]
    work: Work | None = None
    rows: Rows | None = None


class Writer:
    def __init__(self, engine: Engine, max_batch: int = 512) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="smsgate-write")
        self.batches = 0
        self.items = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="smsgate-writer")

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def _submit(self, item: _Item) -> None:
        if self._task is None:
            raise WriterStopped("the store writer is not running")
        self._queue.put_nowait(item)

    async def run(self, work: Callable[[Connection], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._submit(_Item(future, work=work))
        return await future

    async def insert(self, rows: Rows) -> None:
        """Insert ``rows`` (table -> rows), merged with the other inserts of the batch."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._submit(_Item(future, rows=rows))
        await future

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                outcomes = await loop.run_in_executor(self._thread, self._commit_all, batch)
                self.batches += 1
                self.items += len(batch)
                for item, (ok, value) in zip(batch, outcomes, strict=True):
                    if item.future.done():
                        continue
                    if ok:
                        item.future.set_result(value)
                    else:
                        item.future.set_exception(value)
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _commit_all(self, batch: list[_Item]) -> list[tuple[bool, Any]]:
        """On the writer thread: the batch in one transaction, else item by item."""
        try:
            return [(True, result) for result in self._commit(batch)]
        except Exception as exc:
            if len(batch) == 1 or store_unavailable(exc):
                # Item by item would only wait for the store once per item.
                return [(False, exc)] * len(batch)
        outcomes: list[tuple[bool, Any]] = []
        for item in batch:
            try:
                outcomes.append((True, self._commit([item])[0]))
            except Exception as exc:
                outcomes.append((False, exc))
        return outcomes

    def _commit(self, batch: list[_Item]) -> list[Any]:
        with self._engine.begin() as conn:
            merged: dict[Table, list[dict[str, Any]]] = {}
            for item in batch:
                for table, rows in (item.rows or {}).items():
                    merged.setdefault(table, []).extend(rows)
            for table, rows in merged.items():
                if rows:
                    conn.execute(table.insert(), rows)
            return [item.work(conn) if item.work else None for item in batch]

    def close(self) -> None:
        self._thread.shutdown(wait=True)
