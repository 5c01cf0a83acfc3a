"""SQLAlchemy's synchronous calls (a pool checkout, a commit by the DB-API adapter) run
from async code in greenlets that are kept and used again.

Why: SQLAlchemy's `greenlet_spawn` makes a new greenlet for every call, and on Python
3.11+ a new greenlet's first frame takes a new chunk of interpreter stack from the
operating system (an `mmap`, and a `munmap` when the greenlet ends). System calls are
dear on this kind of host: a `greenlet_spawn` of a function that returns at once cost
about 19 µs here, the same call in a kept greenlet about 2 µs, and every request of
the measured paths made two (docs/architecture.md, "Greenlets kept").

`spawn` keeps `greenlet_spawn`'s contract: the function runs synchronously in a
greenlet of SQLAlchemy's own greenlet class (the one its `await_` accepts), each
awaitable it hands back is awaited here in the caller's task, an exception from that
await is thrown back into the function, and the function's result or exception is the
caller's. The greenlet sees the caller's context variables, as SQLAlchemy's do.
tests/unit/test_greenlets.py (run on the newest SQLAlchemy and on the declared minimum)
fails if SQLAlchemy stops accepting them.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from greenlet import GreenletExit, getcurrent

T = TypeVar("T")

KEPT = 32  # idle greenlets kept per thread: more than a process has calls in flight


class _Outcome:
    """What a kept greenlet hands back when its function has returned or raised (any
    other value it hands back is an awaitable from `await_`)."""

    __slots__ = ("value", "error")

    def __init__(self, value: Any, error: BaseException | None) -> None:
        self.value = value
        self.error = error


def _sqlalchemy_greenlet() -> type:
    """The class of the greenlets `greenlet_spawn` makes, taken from one it makes: its
    `await_` suspends only those (checked by class in SQLAlchemy 2.0, by an attribute
    of the class in 2.1), and their constructor takes the driver (the greenlet to
    switch back to) and copies its context variables."""
    from sqlalchemy.util import greenlet_spawn

    made = greenlet_spawn(lambda: type(getcurrent()))
    try:
        made.send(None)  # the function does not await: the coroutine ends at once
    except StopIteration as done:
        return cast(type, done.value)
    made.close()
    raise RuntimeError("greenlet_spawn did not return at once")


class _Kept(_sqlalchemy_greenlet()):  # type: ignore[misc]
    """A greenlet SQLAlchemy's `await_` accepts, kept for the next call."""


def _serve() -> None:
    """A kept greenlet's life: wait for a function, run it, hand back its outcome, and
    again. Started without arguments and holding nothing between calls (greenlet keeps a
    start's arguments until the greenlet ends): an idle greenlet must not keep the last
    call's arguments, result or error alive, such as a pool connection that SQLAlchemy
    gives back when it is collected."""
    driver = getcurrent().parent
    fn, args = driver.switch()
    while True:
        try:
            outcome = _Outcome(fn(*args), None)
        except GreenletExit:
            raise  # the greenlet is being collected: let it end
        except BaseException as exc:  # the caller's to see, as greenlet_spawn gives it
            outcome = _Outcome(None, exc)
        fn = args = None
        fn, args = driver.switch(outcome)


def _root() -> Any:
    current = getcurrent()
    while current.parent is not None:
        current = current.parent
    return current


class _Idle(threading.local):
    def __init__(self) -> None:
        self.driver: Any = _root()  # the thread's own greenlet, where its event loop runs
        self.kept: list[_Kept] = []


_idle = _Idle()


async def spawn(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a kept greenlet, as `greenlet_spawn(fn, *args)`."""
    caller = getcurrent()
    idle = _idle
    if caller is not idle.driver:  # called from another greenlet: kept ones serve the loop's
        from sqlalchemy.util import greenlet_spawn

        return await greenlet_spawn(fn, *args)
    if idle.kept:
        runner = idle.kept.pop()
    else:
        runner = _Kept(_serve, caller)
        runner.switch()  # to its first wait
    runner.gr_context = caller.gr_context  # the calling task's context variables
    result = runner.switch(fn, args)
    while result.__class__ is not _Outcome:
        if runner.dead:  # the function raised GreenletExit: its value, as greenlet_spawn gives
            return cast(T, result)
        try:
            value = await result
        except BaseException:
            if getcurrent() is not caller:
                # This coroutine is being closed from inside another greenlet (a garbage
                # collection during another call): switching to the runner now would hand
                # its outcome to that other call. The runner is dropped, not kept; when it
                # is collected it ends (GreenletExit).
                raise
            result = runner.throw(*sys.exc_info())
        else:
            result = runner.switch(value)
    runner.gr_context = None  # keep no request's context alive in an idle greenlet
    if len(idle.kept) < KEPT:
        idle.kept.append(runner)
    value, error = result.value, result.error
    result.value = result.error = None  # the outcome stays in _serve's frame while idle
    if error is None:
        return cast(T, value)
    # Raised here, the error would take the caller's exception being handled (if any) as
    # its __context__; greenlet_spawn's error keeps the one it had in the function.
    context = error.__context__
    try:
        raise error
    finally:
        error.__context__ = context
        del error
