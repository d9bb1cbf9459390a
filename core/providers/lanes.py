"""Work through items in parallel lanes of consecutive items; every callback runs on the caller's thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
Post = Callable[[Any], None]


def split_lanes(items: Sequence[T], lanes: int) -> list[list[T]]:
    """Contiguous runs of nearly equal length, one per worker."""
    count = min(max(1, lanes), len(items))
    out: list[list[T]] = []
    start = 0
    for i in range(count):
        end = start + len(items) // count + (1 if i < len(items) % count else 0)
        out.append(list(items[start:end]))
        start = end
    return out


class _Done(Generic[T, R]):
    def __init__(self, item: T, result: R) -> None:
        self.item, self.result = item, result
        self.handled = threading.Event()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def run_lanes(
    items: Sequence[T],
    work: Callable[[T, R | None, Post], R],
    *,
    lanes: int,
    first_previous: Callable[[T], R | None],
    on_event: Post,
    on_result: Callable[[T, R], None],
    should_stop: Callable[[], bool],
) -> bool:
    """Run `work(item, previous result in its lane, post)` for every item; True if stopped early.

    Workers only post: `on_event` (what `work` posts), `on_result` and `should_stop` run here, on the
    caller's thread, so they may touch a database session. A worker starts its next item only after its
    last result was handled and `should_stop` was asked. The first worker error is re-raised here.
    """
    events: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()

    def run_lane(lane: list[T]) -> None:
        previous = first_previous(lane[0])
        for item in lane:
            if stop.is_set():
                return
            try:
                previous = work(item, previous, events.put)
            except BaseException as exc:  # re-raised on the caller's thread
                events.put(_Failed(exc))
                stop.set()
                return
            done = _Done(item, previous)
            events.put(done)
            while not done.handled.wait(0.2):
                if stop.is_set():
                    return

    errors: list[BaseException] = []
    stopped = False
    groups = split_lanes(items, lanes)
    with ThreadPoolExecutor(max_workers=max(1, len(groups)), thread_name_prefix="lane") as pool:
        futures = [pool.submit(run_lane, group) for group in groups]
        try:
            while True:
                try:
                    event = events.get(timeout=0.05)
                except queue.Empty:
                    if all(f.done() for f in futures):
                        break
                    event = None
                if isinstance(event, _Done):
                    on_result(event.item, event.result)
                elif isinstance(event, _Failed):
                    errors.append(event.error)
                elif event is not None:
                    on_event(event)
                if not stop.is_set() and should_stop():
                    stopped = True
                    stop.set()  # items in flight finish (and are handled); no new ones start
                if isinstance(event, _Done):
                    event.handled.set()
        finally:
            stop.set()
    if errors:
        raise errors[0]
    return stopped
