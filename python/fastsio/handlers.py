"""Calling application handlers, and picking loggers, as python-socketio does."""
import asyncio
import inspect
import logging


async def invoke_handler(handler, event, args):
    """Calls a sync or async handler; returns its result (None if cancelled).

    A disconnect handler written without the trailing reason argument is
    called again without it. Other exceptions propagate to the caller.
    """
    try:
        try:
            ret = handler(*args)
        except TypeError:
            if event != "disconnect":
                raise
            ret = handler(*args[:-1])
        if inspect.isawaitable(ret):
            ret = await ret
    except asyncio.CancelledError:
        ret = None
    return ret


def resolve_logger(logger, default):
    """logger=True/False selects `default` at INFO/ERROR (unless the app set a
    level already); any other value is used as the logger itself."""
    if not isinstance(logger, bool):
        return logger
    if default.level == logging.NOTSET:
        default.setLevel(logging.INFO if logger else logging.ERROR)
        default.addHandler(logging.StreamHandler())
    return default
