"""RedisDict and CachedRedisDict: Open WebUI's Redis hash dicts, read from a
near cache so that the event loop never waits for Redis on a read.

The hash lives in Redis exactly as Open WebUI keeps it (one hash named
`name`, each field's value the JSON text of the value, ``<name>:signature``
for ``set(mapping)`` short-cuts), so fastsio and Open WebUI's own classes read
and write each other's data.

Reads come from a per-process copy of the hash kept coherent by Redis
(CLIENT TRACKING, csrc/redis/cache.h): another client's write makes the copy
reload at once, on the C thread. A read waits (GIL released) only while the
copy is loading, at most the socket timeout (5 s by default), then raises
TimeoutError. Writes change the copy at once and are queued to Redis in
order on a C thread; ``flush()`` waits until Redis has them. While Redis is
down, queued writes wait and land once it is back.

Values are returned freshly decoded on each read, as Open WebUI's do, so
mutating a returned dict does not change the stored one.
"""
import asyncio
import hashlib
import json as stdlib_json
import uuid

from . import _core
from .redis_client import parse_url, shared_connection

SCAN_BATCH_SIZE = 200


class RedisDict:
    """A dict in a Redis hash: ``[]``, ``get``, ``in``, ``del``, ``len``,
    ``keys``, ``values``, ``items``, ``set``, ``update``, ``setdefault``,
    ``clear``, ``delete_many``, ``scan_batches``; plus ``flush`` and the
    coroutines ``aget`` / ``aset`` / ``aflush``."""

    def __init__(self, name, redis_url, redis_sentinels=[], redis_cluster=False,
                 cache_set_signature=False, redis_options=None, json=None):
        self.name = name
        self._signature_name = f"{name}:signature" if cache_set_signature else None
        self._json = json or stdlib_json
        cfg = parse_url(redis_url, redis_options, sentinels=redis_sentinels,
                        cluster=redis_cluster)
        self.redis = shared_connection(cfg, tracking=True)
        self._hash = _core.CachedHash(self.redis.client, name)

    def _touched(self):
        """After a write: the signature is void, and the connection's state
        and error reports are drained on the running loop (if any)."""
        if self._signature_name:
            self.redis.send("DEL", self._signature_name, retry=True)
        else:
            self.redis.maybe_attach()

    def __setitem__(self, key, value):
        self._hash.set([(key, self._json.dumps(value))])
        self._touched()

    def __getitem__(self, key):
        value = self._hash.get(key)
        if value is None:
            raise KeyError(key)
        return self._json.loads(value)

    def __delitem__(self, key):
        if self._hash.delete([key]) == 0:
            raise KeyError(key)
        self._touched()

    def __contains__(self, key):
        return isinstance(key, str) and self._hash.has(key)

    def __len__(self):
        return self._hash.size()

    def __iter__(self):
        return iter(self.keys())

    def keys(self):
        return self._hash.keys()

    def values(self):
        return [self._json.loads(v) for v in self._hash.values()]

    def items(self):
        return [(k, self._json.loads(v)) for k, v in self._hash.items()]

    def scan_batches(self):
        """Yields lists of at most 200 (key, value) pairs (of one snapshot)."""
        pairs = self._hash.items()
        for i in range(0, len(pairs), SCAN_BATCH_SIZE):
            yield [(k, self._json.loads(v)) for k, v in pairs[i:i + SCAN_BATCH_SIZE]]

    def delete_many(self, *keys):
        """Deletes fields in one HDEL; no keys is a no-op."""
        if keys:
            self._hash.delete(list(keys))
            self._touched()

    def set(self, mapping):
        """Makes the hash equal to mapping (HSET the new values, then HDEL the
        stale fields; never an empty moment). With the signature on, an
        identical mapping is not written again."""
        if not mapping:
            self.clear()
            return
        serialized = {k: self._json.dumps(v) for k, v in mapping.items()}
        digest = hashlib.sha256()
        for key in sorted(serialized):
            digest.update(key.encode())
            digest.update(b"\0")
            digest.update(serialized[key].encode())
            digest.update(b"\0")
        content_digest = digest.hexdigest()
        if self._signature_name:
            stored = self.redis.call("GET", self._signature_name)
            if stored and stored.decode().startswith(f"{content_digest}:"):
                return
            self.redis.send("DEL", self._signature_name, retry=True)
        stale = set(self._hash.keys()) - set(serialized)
        self._hash.set(list(serialized.items()))
        if stale:
            self._hash.delete(list(stale))
        if self._signature_name:
            self.redis.send("SET", self._signature_name,
                            f"{content_digest}:{uuid.uuid4().hex}", retry=True)

    def get(self, key, default=None):
        value = self._hash.get(key) if isinstance(key, str) else None
        return default if value is None else self._json.loads(value)

    def clear(self):
        self._hash.clear()
        self._touched()

    def update(self, other=None, **kwargs):
        if other is not None:
            for k, v in other.items() if hasattr(other, "items") else other:
                self[k] = v
        for k, v in kwargs.items():
            self[k] = v

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def flush(self, timeout=None):
        """Waits until Redis has every write queued so far (by any RedisDict of
        this connection); returns the number of writes Redis refused."""
        return self._hash.flush(-1 if timeout is None else int(timeout * 1000))

    # -- coroutines for new code --

    async def aget(self, key, default=None):
        return self.get(key, default)

    async def aset(self, key, value):
        self[key] = value

    async def aflush(self, timeout=None):
        return await asyncio.get_running_loop().run_in_executor(None, self.flush, timeout)


class CachedRedisDict(RedisDict):
    """Open WebUI's per-worker cached dict (signature short-cut on). Every
    RedisDict here is already served from a coherent copy, so this only
    turns the signature on."""

    def __init__(self, name, redis_url, redis_sentinels=[], redis_cluster=False,
                 redis_options=None, json=None):
        super().__init__(name, redis_url, redis_sentinels, redis_cluster,
                         cache_set_signature=True, redis_options=redis_options, json=json)
