"""Open WebUI's own Redis helpers replaced by fastsio's, at import time.

Installed by ``python -m fastsio serve`` (swap.install) unless
FASTSIO_OPENWEBUI_PATCH=0. When the served app imports

- ``open_webui.socket.redis_room_channels``: ``AsyncRedisRoomChannelManager``
  becomes ``fastsio.AsyncRedisManager`` with ``room_channels=True`` (same
  channels ``<channel>#<ns>#<room>``, same messages; Open WebUI's class
  overrides redis-py internals that fastsio does not use, so under the swap it
  could not run as it is);
- ``open_webui.socket.utils``: ``RedisDict``, ``CachedRedisDict`` and
  ``RedisLock`` become fastsio's (same constructor signatures, same keys, the
  module's own ``JSONCodec`` for values), so reads never wait for Redis;
  ``YdocManager`` keeps Open WebUI's document logic (locks, size limits,
  compaction) but runs its Redis commands on fastsio's C client
  (fastsio.redis_facade) instead of the redis-py client it is given, when
  that client is a plain single-server one (Sentinel: left on redis-py).

Each module is checked first: if a class is missing or its constructor
takes other parameters than the ones fastsio's equivalent was written for,
nothing in that module is replaced and one warning says why.

- ``open_webui.socket.main``: ``get_event_emitter`` is wrapped so that the
  streamed deltas of one message go out merged (fastsio.openwebui_emitter);
- ``open_webui.tasks``: the response-resume buffer's per-token appends are
  written once per window (fastsio.openwebui_resume).
FASTSIO_OPENWEBUI_MERGE=0 turns these two off alone.
"""
import importlib.abc
import importlib.machinery
import inspect
import logging
import os
import sys

from .redis_dict import CachedRedisDict, RedisDict
from .redis_facade import AsyncRedisFacade, url_of
from .redis_lock import RedisLock
from .redis_manager import AsyncRedisManager
from . import openwebui_emitter, openwebui_resume

logger = logging.getLogger("fastsio.openwebui")

# module -> {class name: constructor parameters (after self) it must have}
EXPECTED = {
    "open_webui.socket.redis_room_channels": {
        "AsyncRedisRoomChannelManager": ["args", "kwargs"],
    },
    "open_webui.socket.utils": {
        "RedisDict": ["name", "redis_url", "redis_sentinels", "redis_cluster",
                      "cache_set_signature"],
        "CachedRedisDict": ["name", "redis_url", "redis_sentinels", "redis_cluster"],
        "RedisLock": ["redis_url", "lock_name", "timeout_secs", "redis_sentinels",
                      "redis_cluster"],
        "YdocManager": ["redis", "redis_key_prefix"],
    },
}

patched = {}    # module name -> list of replaced class names (for tests and logs)


def _parameters(cls):
    try:
        return list(inspect.signature(cls.__init__).parameters)[1:]
    except (TypeError, ValueError):
        return None


def _shape_problem(module, expected):
    for name, params in expected.items():
        cls = getattr(module, name, None)
        if not isinstance(cls, type):
            return f"{name} is missing"
        if _parameters(cls) != params:
            return f"{name}({', '.join(_parameters(cls) or ['?'])}) is not ({', '.join(params)})"
    return None


def _room_channel_manager(original):
    class OpenWebUIRoomChannelManager(AsyncRedisManager):
        """fastsio's manager with Open WebUI's per-room channels."""
        name = getattr(original, "name", "aioredisroomchannel")

        def __init__(self, *args, **kwargs):
            kwargs.setdefault("room_channels", True)
            super().__init__(*args, **kwargs)

    OpenWebUIRoomChannelManager.__qualname__ = original.__qualname__
    return {"AsyncRedisRoomChannelManager": OpenWebUIRoomChannelManager}


def _utils_classes(module):
    codec = getattr(module, "JSONCodec", None)

    class OpenWebUIRedisDict(RedisDict):
        def __init__(self, name, redis_url, redis_sentinels=[], redis_cluster=False,
                     cache_set_signature=False):
            super().__init__(name, redis_url, redis_sentinels, redis_cluster,
                             cache_set_signature, json=codec)

    class OpenWebUICachedRedisDict(CachedRedisDict):
        def __init__(self, name, redis_url, redis_sentinels=[], redis_cluster=False):
            super().__init__(name, redis_url, redis_sentinels, redis_cluster, json=codec)

    class OpenWebUIRedisLock(RedisLock):
        """Own class only so that its __module__ can name Open WebUI's module."""

    ydoc_manager = module.YdocManager
    default_prefix = inspect.signature(ydoc_manager.__init__).parameters[
        "redis_key_prefix"].default

    class OpenWebUIYdocManager(ydoc_manager):
        """Open WebUI's YdocManager on fastsio's C client."""

        def __init__(self, redis=None, redis_key_prefix=default_prefix):
            super().__init__(redis=_facade_for(redis), redis_key_prefix=redis_key_prefix)

    return {"RedisDict": OpenWebUIRedisDict, "CachedRedisDict": OpenWebUICachedRedisDict,
            "RedisLock": OpenWebUIRedisLock, "YdocManager": OpenWebUIYdocManager}


def _facade_for(client):
    """fastsio's facade for the target of a redis-py client (None stays
    None); the client itself when its target is not a plain server."""
    if client is None:
        return None
    url = url_of(client)
    if url is None:
        logger.info("fastsio: YdocManager keeps its redis-py client (%s)",
                    type(getattr(client, "connection_pool", None)).__name__)
        return client
    return AsyncRedisFacade.for_url(url)


EMITTER_MODULE = "open_webui.socket.main"
TASKS_MODULE = "open_webui.tasks"
MERGING_MODULES = (EMITTER_MODULE, TASKS_MODULE)


def _wrap_for_merging(module):
    if os.environ.get("FASTSIO_OPENWEBUI_MERGE", "1") == "0":
        return False
    if module.__name__ == EMITTER_MODULE:
        done, names = openwebui_emitter.wrap(module), ["get_event_emitter"]
    else:
        done = openwebui_resume.wrap(module, openwebui_emitter.window_from_env())
        names = sorted(openwebui_resume.EXPECTED)
    if done:
        patched[module.__name__] = names
    return done


def patch_module(module):
    """Replaces the helpers of one Open WebUI module, all or none."""
    if module.__name__ in MERGING_MODULES:
        return _wrap_for_merging(module)
    expected = EXPECTED[module.__name__]
    problem = _shape_problem(module, expected)
    if problem:
        logger.warning("fastsio: %s left unpatched: %s (this Open WebUI version differs "
                       "from the one fastsio knows)", module.__name__, problem)
        return False
    if module.__name__.endswith("redis_room_channels"):
        replacements = _room_channel_manager(module.AsyncRedisRoomChannelManager)
    else:
        replacements = _utils_classes(module)
    for name, cls in replacements.items():
        cls.__module__ = module.__name__
        setattr(module, name, cls)
    patched[module.__name__] = sorted(replacements)
    logger.info("fastsio: %s uses fastsio's %s", module.__name__, ", ".join(sorted(replacements)))
    return True


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        patch_module(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname not in EXPECTED and fullname not in MERGING_MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _PatchingLoader(spec.loader)
        return spec


def install():
    """Patches the modules when they are imported (or now, if they were)."""
    if os.environ.get("FASTSIO_OPENWEBUI_PATCH", "1") == "0":
        return
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    for name in [*EXPECTED, *MERGING_MODULES]:
        if name in sys.modules and name not in patched:
            patch_module(sys.modules[name])
