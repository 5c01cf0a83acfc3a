"""db/greenlets.py: `spawn` keeps `greenlet_spawn`'s contract with greenlets used again."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import threading
import weakref
from collections.abc import Generator

import pytest
from greenlet import GreenletExit, getcurrent, greenlet
from sqlalchemy.util import await_only

from escrowgate.db import greenlets
from escrowgate.db.greenlets import spawn

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


async def _later(value: int) -> int:
    await asyncio.sleep(0.001)
    return value


def _adds(a: int, b: int) -> int:
    # SQLAlchemy's await_only: it must recognise the kept greenlet as one of its own.
    return await_only(_later(a)) + await_only(_later(b))


async def test_the_function_runs_with_awaits_and_its_result_is_returned() -> None:
    assert await spawn(_adds, 2, 40) == 42
    assert await spawn(lambda: 7) == 7


async def test_greenlets_are_used_again_not_made_per_call() -> None:
    seen: set[int] = set()

    def where() -> int:
        await_only(_later(0))
        seen.add(id(getcurrent()))
        return 0

    for _ in range(20):
        await spawn(where)
    assert len(seen) == 1


async def test_concurrent_calls_each_get_their_own_greenlet_and_result() -> None:
    async def one(k: int) -> int:
        return await spawn(_adds, k, 1000)

    results = await asyncio.gather(*(one(k) for k in range(50)))
    assert results == [k + 1000 for k in range(50)]
    assert len(greenlets._idle.kept) == greenlets.KEPT  # the rest were let go


async def test_the_greenlet_sees_the_calling_tasks_context_variables() -> None:
    def read() -> str:
        await_only(_later(0))
        return request_id.get()

    async def in_task(value: str) -> str:
        request_id.set(value)
        return await spawn(read)

    got = await asyncio.gather(*(asyncio.create_task(in_task(f"req_{k}")) for k in range(5)))
    assert got == [f"req_{k}" for k in range(5)]
    assert await spawn(read) == "none"  # nothing kept from an earlier caller


class Boom(Exception):
    pass


async def test_the_functions_exception_is_the_callers_and_the_greenlet_serves_again() -> None:
    def fails() -> None:
        await_only(_later(0))
        raise Boom("from the function")

    with pytest.raises(Boom, match="from the function"):
        await spawn(fails)
    assert await spawn(_adds, 1, 2) == 3


async def test_an_awaited_error_is_thrown_into_the_function_which_may_handle_it() -> None:
    async def broken() -> int:
        await asyncio.sleep(0)
        raise Boom("from the driver")

    def handles() -> str:
        try:
            await_only(broken())
        except Boom as exc:
            return f"handled: {exc}"
        return "not raised"

    assert await spawn(handles) == "handled: from the driver"


async def test_a_cancelled_caller_cancels_the_function_and_the_greenlet_serves_again() -> None:
    cleaned: list[str] = []

    def waits() -> None:
        try:
            await_only(asyncio.sleep(10))
        finally:
            cleaned.append("finally ran")

    task = asyncio.create_task(spawn(waits))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["finally ran"]
    assert await spawn(_adds, 3, 4) == 7


def test_a_loop_run_inside_another_greenlet_gets_sqlalchemys_spawn() -> None:
    # Kept greenlets serve the thread's own greenlet, where an event loop runs; a loop
    # driven from another greenlet (a thread that runs it so) gets greenlet_spawn.
    out: dict[str, object] = {}

    def thread() -> None:
        def run_loop() -> None:
            out["result"] = asyncio.run(spawn(_adds, 5, 6))
            out["kept"] = len(greenlets._idle.kept)

        greenlet(run_loop).switch()

    worker = threading.Thread(target=thread)
    worker.start()
    worker.join()
    assert out == {"result": 11, "kept": 0}


async def test_an_idle_greenlet_holds_no_callers_context() -> None:
    async def in_task() -> None:
        request_id.set("req_kept")
        await spawn(_adds, 1, 1)

    await asyncio.create_task(in_task())
    # The context (and every request-scoped value in it) is not kept alive by the pool.
    assert all(kept.gr_context is None for kept in greenlets._idle.kept)


class _Pause:
    def __await__(self) -> Generator[None, None, None]:
        yield


async def test_a_greenlet_killed_inside_its_function_ends() -> None:
    def waits() -> None:
        await_only(_Pause())

    coro = spawn(waits)
    coro.send(None)  # the function now waits inside its kept greenlet
    runner = coro.cr_frame.f_locals["runner"]
    runner.throw(GreenletExit)
    assert runner.dead  # it ended, not caught as the function's error and kept waiting
    coro.close()
    assert runner not in greenlets._idle.kept


class _Obj:
    pass


async def test_an_idle_greenlet_keeps_nothing_of_its_last_call() -> None:
    # A pool connection SQLAlchemy gets back when collected must not be held by the pool
    # of greenlets: not the arguments, the result, nor the frames of a raised error.
    made: list[weakref.ref[_Obj]] = []

    def make(_: _Obj) -> _Obj:
        obj = _Obj()
        made.append(weakref.ref(obj))
        return obj

    arg = _Obj()
    arg_ref = weakref.ref(arg)
    assert isinstance(await spawn(make, arg), _Obj)  # the result is dropped at once
    del arg
    gc.collect()
    assert (arg_ref(), made[0]()) == (None, None)  # before another call reuses the greenlet
    local_refs: list[weakref.ref[_Obj]] = []

    def fails() -> None:
        local = _Obj()
        local_refs.append(weakref.ref(local))
        raise Boom("with a local")

    with pytest.raises(Boom):
        await spawn(fails)
    gc.collect()
    assert local_refs[0]() is None


async def test_a_call_closed_while_another_runs_does_not_take_its_outcome() -> None:
    # A task dropped mid-call can be finalized (its coroutine closed) by a garbage
    # collection inside another call's function: that other call must get its own result,
    # and the greenlet left mid-function must not be kept for a later call.
    def waits() -> str:
        await_only(_Pause())
        return "first call's result"

    holder = [spawn(waits)]
    holder[0].send(None)  # the first call now waits inside its greenlet

    def second() -> str:
        holder.clear()  # the first call's coroutine is finalized here, in this greenlet
        return "second call's result"

    assert await spawn(second) == "second call's result"
    assert all(kept.gr_frame.f_code.co_name == "_serve" for kept in greenlets._idle.kept)
    assert await spawn(lambda: "third call's result") == "third call's result"


def _translated() -> None:
    try:
        raise KeyError("root cause")
    except KeyError:
        raise Boom("translated")  # noqa: B904 (the implicit context is the point)


async def test_the_functions_error_keeps_its_own_context_when_the_caller_handles_one() -> None:
    try:
        raise ValueError("the caller's own")
    except ValueError:
        with pytest.raises(Boom) as raised:
            await spawn(_translated)
    assert repr(raised.value.__context__) == "KeyError('root cause')"


async def test_a_function_raising_greenletexit_returns_it_as_greenlet_spawn_does() -> None:
    def exits() -> None:
        raise GreenletExit("done")

    got = await spawn(exits)
    assert isinstance(got, GreenletExit) and str(got) == "done"
    assert await spawn(_adds, 1, 2) == 3
