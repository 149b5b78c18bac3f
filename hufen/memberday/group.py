"""Group commit for check-ins: the requests that one process's threads make at the same moment share
one statement, one round trip and one commit.

At midnight of Member Day a server process has a dozen threads each waiting to check a member in.
Run one at a time, each pays PostgreSQL's fixed costs (executor start, the commit's WAL flush, the
round trip) for a single row. Here the first thread to arrive becomes the *leader*: it takes every
request waiting at that moment (its own first, then others for the same statement, one per member
and per Idempotency-Key, at most `MAX_BATCH`), runs `hotwrite.check_in_many` for them on its own
database connection, hands each its answer and passes the lead to the next waiting thread. Threads
that arrive while a statement runs wait for the next one, so a batch is as large as the load makes
it and nobody waits for a timer: under light load every batch is one request.

Nothing changes for a request's outcome. The statement is atomic for the whole batch; when it fails
as a whole (one of the keys was used concurrently by another process: IntegrityError; or any error
of the leader's connection) every request of the batch is answered `hotwrite.FAILED` and runs again
alone on its own thread and connection, where the usual rules explain it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from typing import Any

from hufen.memberday import hotwrite, live

logger = logging.getLogger("hufen.memberday")
MAX_BATCH = int(os.environ.get("HUFEN_CHECKIN_BATCH", "64"))


class _Slot:
    __slots__ = ("answer", "lead", "ready", "request", "statement")

    def __init__(self, statement: hotwrite.Statement, request: hotwrite.Request) -> None:
        self.statement = statement
        self.request = request
        self.ready = threading.Event()
        self.answer: Any = hotwrite.FAILED
        self.lead = False  # woken to lead the next batch rather than with an answer


class GroupCommit:
    def __init__(self, max_batch: int = MAX_BATCH) -> None:
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._waiting: list[_Slot] = []
        self._leading = False
        self.batches = 0  # statements run, and requests in them: the mean batch size for benchmarks
        self.requests = 0

    def submit(self, statement: hotwrite.Statement, request: hotwrite.Request) -> hotwrite.Hot | object | None:
        """The request's answer (`hotwrite.check_in_many`'s), or `hotwrite.FAILED`."""
        if self.max_batch <= 1:
            return hotwrite.FAILED  # grouping off: the caller runs it alone
        slot = _Slot(statement, request)
        with self._lock:
            self._waiting.append(slot)
            lead = not self._leading
            self._leading = True
        if not lead:
            slot.ready.wait()
            if not slot.lead:
                return slot.answer
        self._lead(slot)
        return slot.answer

    def _take(self, mine: _Slot) -> list[_Slot]:
        """Under the lock: the leader's own request and the others that can share its statement."""
        batch, rest = [mine], []
        members, keys = {mine.request.member_id}, {mine.request.key[:2] if mine.request.key else None}
        for slot in self._waiting:
            if slot is mine:
                continue
            key = slot.request.key[:2] if slot.request.key else None
            if (
                len(batch) < self.max_batch
                and slot.statement is mine.statement
                and slot.request.member_id not in members
                and (key is None or key not in keys)
            ):
                batch.append(slot)
                members.add(slot.request.member_id)
                keys.add(key)
            else:
                rest.append(slot)
        self._waiting = rest
        return batch

    def _lead(self, mine: _Slot) -> None:
        with self._lock:
            batch = self._take(mine)
        answers: list[Any]
        try:
            answers = hotwrite.check_in_many(mine.statement, [s.request for s in batch])
        except Exception:
            logger.warning(
                "a shared check-in statement failed; its %d requests run again alone", len(batch), exc_info=True
            )
            answers = [hotwrite.FAILED] * len(batch)
        finally:
            with self._lock:
                self.batches += 1
                self.requests += len(batch)
                if self._waiting:
                    successor = self._waiting[0]
                    successor.lead = True
                    successor.ready.set()
                else:
                    self._leading = False
        answers = _counted(answers)
        for slot, answer in zip(batch, answers, strict=True):
            slot.answer = answer
            if slot is not mine:
                slot.ready.set()


def _counted(answers: list[Any]) -> list[Any]:
    """The batch's live figures (members online, new check-ins) in one round trip to the cache, after
    the statement committed; each answer then says so, and its request does not update them again."""
    done = [a for a in answers if isinstance(a, hotwrite.Hot)]
    if not done:
        return answers
    live.checked_in_many([(a.checkin.member_id, a.checkin.occurrence_id, a.created and not a.replayed) for a in done])
    return [dataclasses.replace(a, counted=True) if isinstance(a, hotwrite.Hot) else a for a in answers]


GROUP = GroupCommit()
