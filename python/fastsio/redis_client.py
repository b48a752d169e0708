"""Redis connections: URLs and options as redis-py takes them, one shared C
client per target and purpose, and the bridge from its I/O thread to asyncio.

The C client (``_core.RedisClient``) runs its own thread with two hiredis
connections. Nothing here blocks the event loop except ``call()``, which
releases the GIL and is bounded by ``socket_timeout``. Replies to ``execute()``,
pub/sub messages that need Python, subscription confirmations and connection
state changes come back through the client's inbox, drained on the loop when
its eventfd turns readable.

Supported URLs: ``redis://[[user]:password@]host[:port][/db]``,
``unix://[[user]:password@]/path/to/socket[?db=N]``,
``redis+sentinel://[[user]:password@]host:port[,host:port...]/db/service``
(``valkey`` spellings too), and ``redis_sentinels=[(host, port), ...]`` with a
``redis://[:password@]service[:port]/db`` URL as Open WebUI passes them.
``rediss://`` and Redis Cluster are refused with a message saying why.
"""
import asyncio
import atexit
import itertools
import logging
import threading
from urllib.parse import parse_qs, unquote, urlparse

from . import _core

logger = logging.getLogger("fastsio.redis")

RedisError = _core.RedisError

# redis-py options that change nothing here (pooling, retries, decoding,
# keep-alive, naming); accepted so that existing option dicts keep working.
_IGNORED_OPTIONS = {
    "decode_responses", "encoding", "encoding_errors", "health_check_interval",
    "retry_on_timeout", "retry_on_error", "retry", "socket_keepalive",
    "socket_keepalive_options", "max_connections", "client_name", "single_connection_client",
    "auto_close_connection_pool", "protocol", "lib_name", "lib_version",
}


class RedisConfigError(ValueError):
    """A Redis URL or option that fastsio cannot honour."""


def _ms(seconds):
    return 0 if seconds is None else max(1, int(float(seconds) * 1000))


def _apply_options(cfg, options):
    for key, value in (options or {}).items():
        if key == "socket_timeout":
            cfg["socket_timeout_ms"] = _ms(value)
        elif key == "socket_connect_timeout":
            cfg["connect_timeout_ms"] = _ms(value)
        elif key in ("password", "username"):
            if value is not None:
                cfg[key] = value
        elif key == "db":
            cfg["db"] = int(value)
        elif key == "sentinel_kwargs":
            for skey, svalue in (value or {}).items():
                if skey in ("password", "username") and svalue is not None:
                    cfg["sentinel_" + skey] = svalue
                elif skey == "socket_connect_timeout":
                    cfg["connect_timeout_ms"] = _ms(svalue)
        elif key == "ssl" or key.startswith("ssl_"):
            if value:
                raise RedisConfigError(
                    f"Redis option {key!r}: TLS is not available (the hiredis 0.14 that "
                    "fastsio is built with has no TLS); connect over a private network or "
                    "a local TLS tunnel with a redis:// URL")
        elif key not in _IGNORED_OPTIONS:
            raise RedisConfigError(f"Redis option {key!r} is not supported by fastsio")
    return cfg


def parse_url(url, options=None, sentinels=None, cluster=False, default_service=None):
    """Keyword arguments for ``_core.RedisClient`` from a redis-py style URL,
    options dict, and Open WebUI's ``redis_sentinels`` list."""
    if cluster:
        raise RedisConfigError(
            "Redis Cluster is not supported by fastsio (redis_cluster=True); use a single "
            "Redis server or Sentinel")
    parts = urlparse(url)
    scheme = parts.scheme.lower()
    cfg = {}
    if scheme in ("rediss", "valkeys"):
        raise RedisConfigError(
            f"{scheme}:// needs TLS, which the hiredis 0.14 that fastsio is built with does "
            "not have; use redis:// over a private network or a local TLS tunnel")
    if parts.username:
        cfg["username"] = unquote(parts.username)
    if parts.password:
        cfg["password"] = unquote(parts.password)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if scheme in ("redis+sentinel", "valkey+sentinel"):
        nodes = []
        for node in parts.netloc.rpartition("@")[2].split(","):
            host, _, port = node.rpartition(":")
            nodes.append((host or "localhost", int(port or 26379)))
        segments = parts.path.split("/")
        cfg["db"] = int(segments[1]) if len(segments) > 1 and segments[1] else 0
        service = segments[2] if len(segments) > 2 and segments[2] else default_service
        if not service:
            raise RedisConfigError(f"no Sentinel service name in {url!r}")
        cfg["sentinels"] = nodes
        cfg["master_name"] = service
        cfg.setdefault("sentinel_username", cfg.get("username"))
        cfg.setdefault("sentinel_password", cfg.get("password"))
    elif scheme in ("redis", "valkey"):
        db = parts.path.lstrip("/") or query.get("db") or "0"
        cfg["db"] = int(db)
        if sentinels:
            cfg["sentinels"] = [(h, int(p)) for h, p in sentinels]
            cfg["master_name"] = parts.hostname or "mymaster"
            if cfg.get("password"):
                cfg["sentinel_password"] = cfg["password"]
            if cfg.get("username"):
                cfg["sentinel_username"] = cfg["username"]
        else:
            cfg["host"] = parts.hostname or "localhost"
            cfg["port"] = parts.port or 6379
    elif scheme == "unix":
        cfg["unix_path"] = unquote(parts.path)
        cfg["db"] = int(query.get("db", 0))
    else:
        raise RedisConfigError(f"Unsupported Redis URL scheme: {scheme}")
    for key in ("socket_timeout", "socket_connect_timeout"):
        if key in query:
            _apply_options(cfg, {key: query[key]})
    return _apply_options(cfg, options)


class RedisConnection:
    """One C client, shared by everything in the process that uses the same
    target for the same purpose. Listeners (the pub/sub manager) register
    with add_listener; the connection routes inbox items to them."""

    def __init__(self, cfg, tracking):
        self.cfg = cfg
        self.client = _core.RedisClient(tracking=tracking, **cfg)
        self._tokens = itertools.count(1)
        self._futures = {}
        self._loop = None
        self._down = set()          # connections (0 command, 1 subscriber) down
        self.listeners = []         # objects with on_message/on_subscribed/on_wake
        self.closed = False

    # -- the loop side --

    def attach(self, loop=None):
        """Drains the inbox on `loop` (the running loop by default)."""
        loop = loop or asyncio.get_running_loop()
        if loop is self._loop:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self.client.fileno())
        self._loop = loop
        loop.add_reader(self.client.fileno(), self.drain)

    def maybe_attach(self):
        """attach() when called from a running loop; a no-op otherwise."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if loop is not self._loop:
            self.attach(loop)

    def drain(self):
        items, woken, overflowed = self.client.take()
        for listener in self.listeners:
            if woken or overflowed:
                listener.on_wake(woken, overflowed)
        for item in items:
            kind = item[0]
            if kind == _core.KIND_REPLY:
                fut = self._futures.pop(item[1], None)
                if fut is None or fut.done():
                    continue
                if isinstance(item[2], BaseException):
                    fut.set_exception(item[2])
                else:
                    fut.set_result(item[2])
            elif kind == _core.KIND_MESSAGE:
                for listener in self.listeners:
                    listener.on_message(item[2], item[3])
            elif kind == _core.KIND_SUBSCRIBED:
                for listener in self.listeners:
                    listener.on_subscribed(item[2], item[3])
            elif kind == _core.KIND_STATE:
                self._state(*item[2])
            elif kind == _core.KIND_LOG:
                logger.error("Redis: %s", item[2])

    def _state(self, which, up, reason):
        name = "subscriber" if which else "command"
        if not up and which not in self._down:
            self._down.add(which)
            logger.error("Redis %s connection lost (%s); reconnecting, queued commands "
                         "will be sent once it is back", name, reason)
        elif up and which in self._down:
            self._down.discard(which)
            logger.warning("Redis %s connection restored", name)

    # -- commands --

    async def execute(self, *args, retry=False):
        """Runs a command without blocking the loop; returns the reply or
        raises RedisError / ConnectionError."""
        return await self.submit(*args, retry=retry)

    def submit(self, *args, retry=False):
        """Queues a command now (commands submitted one after the other reach
        Redis in that order, nothing between them); returns the future of
        its reply. Loop thread only."""
        self.attach()
        token = next(self._tokens)
        fut = self._loop.create_future()
        self._futures[token] = fut
        try:
            self.client.command(token, args, retry)
        except BaseException:
            self._futures.pop(token, None)
            raise
        return fut

    def send(self, *args, retry=False):
        """Queues a command whose reply nobody waits for; a failure is logged
        by the state reporting."""
        self.maybe_attach()
        self.client.command(0, args, retry)

    def call(self, *args, retry=False):
        """Runs a command and waits for the reply with the GIL released."""
        self.maybe_attach()
        return self.client.call(args, retry)

    def close(self):
        if self.closed:
            return
        self.closed = True
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.remove_reader(self.client.fileno())
            except (RuntimeError, ValueError):
                pass
        self.client.close()
        for fut in self._futures.values():
            if not fut.done() and not fut.get_loop().is_closed():
                fut.set_exception(ConnectionError("Redis client closed"))
        self._futures.clear()


_shared = {}
_shared_lock = threading.Lock()


def shared_connection(cfg, tracking=False, purpose="data"):
    """The process's connection for (cfg, tracking, purpose), created once.
    Pub/sub traffic and data commands use separate purposes so that one does
    not queue behind the other."""
    key = (purpose, tracking, tuple(sorted((k, repr(v)) for k, v in cfg.items())))
    with _shared_lock:
        conn = _shared.get(key)
        if conn is None or conn.closed:
            conn = _shared[key] = RedisConnection(cfg, tracking)
        return conn


def close_all():
    """Closes every shared connection (tests, interpreter exit)."""
    with _shared_lock:
        conns = list(_shared.values())
        _shared.clear()
    for conn in conns:
        conn.close()


atexit.register(close_all)
