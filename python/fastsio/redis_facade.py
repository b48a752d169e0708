"""AsyncRedisFacade: the slice of redis-py's ``redis.asyncio.Redis`` that
Open WebUI's collaborative documents (``YdocManager``) and the task helpers
it calls use, over fastsio's C client.

It behaves like a redis-py client made with ``decode_responses=True``: bulk
replies come back as str, SMEMBERS as a set, integers as int. Commands run
without blocking the loop; a pipeline queues its commands back to back on
the client's command connection (wrapped in MULTI/EXEC when
``transaction=True``, as redis-py does), so nothing of this process comes
between them. ``lock()`` is redis-py's blocking lock contract (SET NX PX with
a token, polled until ``blocking_timeout``, LockError when not acquired;
release checked against the token in Lua, LockNotOwnedError when expired).

Only the methods listed in COMMANDS exist; anything else is an
AttributeError, never a silently different command. Loop thread only.
"""
import asyncio
import time
import uuid
from urllib.parse import quote

from .redis_client import RedisError, parse_url, shared_connection

try:    # the exceptions redis-py callers catch, when redis-py is installed
    from redis.exceptions import LockError, LockNotOwnedError
except ImportError:     # pragma: no cover - Open WebUI always has redis-py
    class LockError(RedisError):
        pass

    class LockNotOwnedError(LockError):
        pass

_RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""
LOCK_POLL = 0.1     # redis-py's default sleep between lock attempts


def _decoded(reply):
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "surrogateescape")
    if isinstance(reply, list):
        return [_decoded(r) for r in reply]
    if isinstance(reply, Exception):
        raise reply
    return reply


def _as_set(reply):
    return set(_decoded(reply))


def _arg(value):
    if isinstance(value, (bytes, str)):
        return value
    if isinstance(value, bool):
        raise TypeError("bool is not a Redis value (redis-py refuses it too)")
    if isinstance(value, (int, float)):
        return repr(value)
    raise TypeError(f"{type(value).__name__} is not a Redis value")


def _set_args(name, value, ex=None, px=None, nx=False, xx=False):
    args = ["SET", name, _arg(value)]
    if ex is not None:
        args += ["EX", int(ex)]
    if px is not None:
        args += ["PX", int(px)]
    if nx:
        args.append("NX")
    if xx:
        args.append("XX")
    return args


# method -> (argument builder or command name, reply converter)
COMMANDS = {
    "get": ("GET", _decoded), "set": (_set_args, _decoded),
    "delete": ("DEL", _decoded), "exists": ("EXISTS", _decoded),
    "expire": ("EXPIRE", _decoded),
    "incrby": ("INCRBY", _decoded), "decrby": ("DECRBY", _decoded),
    "rpush": ("RPUSH", _decoded), "llen": ("LLEN", _decoded),
    "lrange": ("LRANGE", _decoded),
    "sadd": ("SADD", _decoded), "srem": ("SREM", _decoded),
    "scard": ("SCARD", _decoded), "smembers": ("SMEMBERS", _as_set),
    "hget": ("HGET", _decoded), "hset": ("HSET", _decoded),
    "hdel": ("HDEL", _decoded), "hkeys": ("HKEYS", _decoded),
}


def _command(method, args, kwargs):
    builder, convert = COMMANDS[method]
    if callable(builder):
        return builder(*args, **kwargs), convert
    if kwargs:
        raise TypeError(f"{method}() takes no keyword arguments here")
    return [builder, *[_arg(a) for a in args]], convert


class AsyncRedisFacade:
    def __init__(self, connection):
        self.connection = connection

    @classmethod
    def for_url(cls, url, redis_options=None):
        return cls(shared_connection(parse_url(url, redis_options)))

    def __getattr__(self, method):
        if method not in COMMANDS:
            raise AttributeError(f"{type(self).__name__} has no {method!r}")

        async def call(*args, **kwargs):
            command, convert = _command(method, args, kwargs)
            return convert(await self.connection.execute(*command))
        call.__name__ = method
        return call

    def pipeline(self, transaction=True):
        return _Pipeline(self.connection, transaction)

    def lock(self, name, timeout=None, blocking_timeout=None):
        return _Lock(self.connection, name, timeout, blocking_timeout)


class _Pipeline:
    def __init__(self, connection, transaction):
        self.connection = connection
        self.transaction = transaction
        self.queued = []        # (command, converter)

    def __getattr__(self, method):
        if method not in COMMANDS:
            raise AttributeError(f"pipeline has no {method!r}")

        def queue(*args, **kwargs):
            self.queued.append(_command(method, args, kwargs))
            return self
        return queue

    async def execute(self):
        queued, self.queued = self.queued, []
        if not queued:
            return []
        submit = self.connection.submit
        if self.transaction:
            futures = [submit("MULTI")]
            futures += [submit(*command) for command, _ in queued]
            futures.append(submit("EXEC"))
            replies = await asyncio.gather(*futures, return_exceptions=True)
            for reply in replies[:-1]:
                if isinstance(reply, Exception):
                    raise reply
            results = replies[-1]
            if isinstance(results, Exception):
                raise results
        else:
            results = await asyncio.gather(*[submit(*command) for command, _ in queued],
                                           return_exceptions=True)
        out = []
        for (_, convert), reply in zip(queued, results):
            if isinstance(reply, Exception):
                raise reply
            out.append(convert(reply))
        return out


class _Lock:
    def __init__(self, connection, name, timeout, blocking_timeout):
        self.connection = connection
        self.name = name
        self.timeout = timeout
        self.blocking_timeout = blocking_timeout
        self.token = None

    async def acquire(self):
        token = uuid.uuid4().hex
        args = ["SET", self.name, token, "NX"]
        if self.timeout is not None:
            args += ["PX", max(1, int(self.timeout * 1000))]
        deadline = (None if self.blocking_timeout is None
                    else time.monotonic() + self.blocking_timeout)
        while True:
            if await self.connection.execute(*args) == "OK":
                self.token = token
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(LOCK_POLL)

    async def release(self):
        token, self.token = self.token, None
        if token is None:
            raise LockError("Cannot release an unlocked lock")
        if not await self.connection.execute("EVAL", _RELEASE_SCRIPT, 1, self.name, token):
            raise LockNotOwnedError("Cannot release a lock that's no longer owned")

    async def __aenter__(self):
        if await self.acquire():
            return self
        raise LockError("Unable to acquire lock within the time specified")

    async def __aexit__(self, *exc):
        await self.release()


def url_of(client):
    """A redis:// or unix:// URL for a redis-py client's target, or None when
    it is not a plain single-server client (Sentinel, Cluster, TLS)."""
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None)
    if pool is None or kwargs is None or type(pool).__name__ != "ConnectionPool":
        return None
    connection_class = getattr(pool, "connection_class", None)
    if kwargs.get("ssl") or "ssl" in getattr(connection_class, "__name__", "").lower():
        return None
    user, password = kwargs.get("username"), kwargs.get("password")
    auth = ""
    if password is not None:
        auth = f"{quote(user or '', safe='')}:{quote(password, safe='')}@"
    db = int(kwargs.get("db") or 0)
    if kwargs.get("path"):
        return f"unix://{auth}{kwargs['path']}?db={db}"
    return f"redis://{auth}{kwargs.get('host', 'localhost')}:{int(kwargs.get('port', 6379))}/{db}"
