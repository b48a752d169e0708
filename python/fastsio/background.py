"""Tasks nobody awaits (handlers run with async_handlers, timer-driven sends
and writes): the event loop holds only weak references to tasks, so each is
kept here until it ends. Loop thread only.

`resume` is how the rest of a coroutine that was started outside any task
(engine/native.py runs the dispatch of plain events inline) runs inside a
task once it suspends."""
import asyncio

_running = set()
# what a hot path's task adds itself to while it runs, instead of spawn's done
# callback (one loop callback less per task): until its first step the loop's
# own handle keeps a task alive
kept = _running


def spawn(coro, loop=None):
    """Runs coro as a task of loop (default: the running loop); the task is
    kept alive until it ends and returned."""
    task = (loop or asyncio.get_running_loop()).create_task(coro)
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


async def resume(coro, fut):
    """Continues a coroutine that suspended on fut (what its send() yielded)
    the way a task would: wait, then send again, until it returns."""
    while True:
        throw = None
        if fut is None:
            await asyncio.sleep(0)
        else:
            # the coroutine's yield marked it; a task clears the mark before
            # waiting, and awaiting a marked pending future is refused
            fut._asyncio_future_blocking = False
            try:
                await fut
            except asyncio.CancelledError as exc:
                if not fut.cancelled():
                    throw = exc   # this task was cancelled: so is the coroutine
            except Exception:
                pass   # the coroutine reads the outcome from fut itself
        try:
            fut = coro.send(None) if throw is None else coro.throw(throw)
        except StopIteration:
            return
