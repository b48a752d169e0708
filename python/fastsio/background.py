"""Tasks nobody awaits (handlers run with async_handlers, timer-driven sends
and writes): the event loop holds only weak references to tasks, so each is
kept here until it ends. Loop thread only."""
import asyncio

_running = set()


def spawn(coro):
    """Runs coro as a task of the running loop; the task is kept alive until
    it ends and returned."""
    task = asyncio.ensure_future(coro)
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task
