"""RedisLock: Open WebUI's owner-checked Redis lock (SET NX EX; renew and
release only by the owner, checked in Lua on the server).

The synchronous methods wait for one round trip with the GIL released (the
C client's thread does the I/O), bounded by the socket timeout; the
``a``-prefixed coroutines do not block the event loop at all.
"""
import logging
import uuid

from .redis_client import RedisError, parse_url, shared_connection

log = logging.getLogger("fastsio.redis")

_RENEW_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('expire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLock:
    def __init__(self, redis_url, lock_name, timeout_secs, redis_sentinels=[],
                 redis_cluster=False, redis_options=None):
        self.lock_name = lock_name
        self.lock_id = str(uuid.uuid4())
        self.timeout_secs = timeout_secs
        self.lock_obtained = False
        cfg = parse_url(redis_url, redis_options, sentinels=redis_sentinels,
                        cluster=redis_cluster)
        self.redis = shared_connection(cfg)

    def _acquire_args(self):
        return ("SET", self.lock_name, self.lock_id, "NX", "EX", int(self.timeout_secs))

    def acquire_lock(self):
        """True when this instance now holds the lock."""
        self.lock_obtained = self.redis.call(*self._acquire_args()) == "OK"
        return self.lock_obtained

    aquire_lock = acquire_lock   # Open WebUI's spelling

    def renew_lock(self):
        return bool(self.redis.call("EVAL", _RENEW_SCRIPT, 1, self.lock_name, self.lock_id,
                                    int(self.timeout_secs)))

    def release_lock(self):
        try:
            self.redis.call("EVAL", _RELEASE_SCRIPT, 1, self.lock_name, self.lock_id)
        except (RedisError, ConnectionError, TimeoutError) as exc:
            log.warning("Failed to release lock %s; it expires on its own: %s",
                        self.lock_name, exc)
        self.lock_obtained = False

    async def aacquire_lock(self):
        self.lock_obtained = await self.redis.execute(*self._acquire_args()) == "OK"
        return self.lock_obtained

    async def arenew_lock(self):
        return bool(await self.redis.execute("EVAL", _RENEW_SCRIPT, 1, self.lock_name,
                                             self.lock_id, int(self.timeout_secs)))

    async def arelease_lock(self):
        try:
            await self.redis.execute("EVAL", _RELEASE_SCRIPT, 1, self.lock_name, self.lock_id)
        except (RedisError, ConnectionError, TimeoutError) as exc:
            log.warning("Failed to release lock %s; it expires on its own: %s",
                        self.lock_name, exc)
        self.lock_obtained = False
