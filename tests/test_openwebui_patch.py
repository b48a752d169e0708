"""The Open WebUI helper replacement (python/fastsio/openwebui.py), in fresh
interpreters: Open WebUI 0.12.4's real redis_room_channels module from its
wheel is replaced under the swap; a module whose classes changed shape is
left alone with one warning. (Open WebUI's socket/utils.py needs its whole
dependency set; tests/test_openwebui.py covers it in the real app.)"""
import os
import subprocess
import sys
import textwrap

from tests.conftest import PACKAGE_DIR, ROOT
from tests.owui_wheel import open_webui_modules


def run(code, *paths, env=None):
    full_env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, PACKAGE_DIR, *paths]))
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full_env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_room_channel_manager_is_replaced():
    out = run("""
        from fastsio import swap
        swap.install()
        from open_webui.socket.redis_room_channels import AsyncRedisRoomChannelManager as M
        import fastsio
        m = M("redis://127.0.0.1:6379/0", redis_options={}, json=None)
        assert isinstance(m, fastsio.AsyncRedisManager) and m.room_channels
        assert m._room_channel("/", "user:1") == "socketio#/#user:1"
        print("OK", M.__module__, M.name)
    """, open_webui_modules())
    assert "OK open_webui.socket.redis_room_channels aioredisroomchannel" in out


def test_opt_out_keeps_open_webui_class_and_the_contract_refuses_it():
    out = run("""
        from fastsio import swap
        swap.install()
        from open_webui.socket.redis_room_channels import AsyncRedisRoomChannelManager as M
        try:
            M("redis://127.0.0.1:6379/0")
        except TypeError as exc:
            print("REFUSED", exc)
    """, open_webui_modules(), env={"FASTSIO_OPENWEBUI_PATCH": "0"})
    assert "REFUSED" in out and "room_channels=True" in out


def test_changed_shape_is_left_unpatched(tmp_path):
    pkg = tmp_path / "open_webui" / "socket"
    pkg.mkdir(parents=True)
    (tmp_path / "open_webui" / "__init__.py").write_text("")
    (pkg / "utils.py").write_text(textwrap.dedent("""
        class RedisDict:
            def __init__(self, name, redis_url, redis_sentinels=[], redis_cluster=False,
                         cache_set_signature=False):
                pass
        class CachedRedisDict(RedisDict):
            def __init__(self, name, redis_url, ttl, redis_sentinels=[], redis_cluster=False):
                pass
        class RedisLock:
            def __init__(self, redis_url, lock_name, timeout_secs, redis_sentinels=[],
                         redis_cluster=False):
                pass
    """))
    out = run("""
        import logging
        logging.basicConfig()
        from fastsio import swap
        swap.install()
        from open_webui.socket import utils
        assert utils.RedisDict.__module__ == "open_webui.socket.utils"
        assert "fastsio" not in repr(utils.RedisDict.__mro__)   # none replaced
        print("LEFT ALONE")
    """, str(tmp_path))
    assert "LEFT ALONE" in out
    assert out.count("left unpatched") == 1 and "CachedRedisDict(" in out
