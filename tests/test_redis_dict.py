"""RedisDict, CachedRedisDict, RedisLock and YdocStore against a real
redis-server, checked against redis-py reading and writing the same keys
the way Open WebUI's own classes do (json.dumps values in one hash)."""
import asyncio
import json
import os
import time

import pytest

import fastsio
from fastsio import redis_client


@pytest.fixture(autouse=True)
def fresh_connections():
    yield
    redis_client.close_all()


def eventually(check, timeout=3.0):
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_dict_protocol_and_redis_py_compatibility(redis_server):
    r = redis_server.client()
    r.hset("pool", mapping={"old": json.dumps({"id": "old", "n": 1})})
    d = fastsio.RedisDict("pool", redis_url=redis_server.url)
    assert d["old"] == {"id": "old", "n": 1}
    d["a"] = {"id": "a", "chat_ids": ["x"], "t": 1.5, "name": "\u00e9\U0001F600"}
    assert d["a"] == {"id": "a", "chat_ids": ["x"], "t": 1.5, "name": "\u00e9\U0001F600"}
    assert "a" in d and "zz" not in d and 5 not in d
    assert len(d) == 2 and sorted(d.keys()) == ["a", "old"]
    assert d.get("zz") is None and d.get("zz", 3) == 3
    with pytest.raises(KeyError):
        d["zz"]
    with pytest.raises(KeyError):
        del d["zz"]
    d.flush()
    # stored as Open WebUI stores it: the stdlib json text of the value
    assert r.hget("pool", "a") == json.dumps(d["a"])
    returned = d["a"]
    returned["chat_ids"].append("mutated")
    assert d["a"]["chat_ids"] == ["x"]            # a fresh value per read
    d.update({"b": 1}, c=2)
    assert d.setdefault("b", 9) == 1 and d.setdefault("e", 5) == 5
    d.delete_many("b", "c")
    d.delete_many()
    del d["e"]
    d.flush()
    assert sorted(r.hkeys("pool")) == ["a", "old"]
    assert dict(d.items()) == {k: json.loads(v) for k, v in r.hgetall("pool").items()}
    assert sorted(map(json.dumps, d.values())) == sorted(r.hvals("pool"))
    for i in range(450):
        d[f"k{i}"] = i
    batches = list(d.scan_batches())
    assert [len(b) for b in batches] == [200, 200, 52]
    assert sum(len(b) for b in batches) == len(d) == 452
    d.clear()
    assert len(d) == 0
    d.flush()
    assert r.exists("pool") == 0


def test_other_writers_invalidate_the_near_cache(redis_server):
    r = redis_server.client()
    d = fastsio.RedisDict("shared", redis_url=redis_server.url)
    d["mine"] = 1
    d.flush()
    assert d["mine"] == 1
    r.hset("shared", "theirs", json.dumps([1, 2]))
    eventually(lambda: d.get("theirs") == [1, 2])
    r.hdel("shared", "mine")
    eventually(lambda: "mine" not in d)
    r.delete("shared")
    eventually(lambda: len(d) == 0)
    # two fastsio dicts in one process share the copy; a second process-like
    # writer (another connection) is seen through invalidation
    other = fastsio.RedisDict("shared", redis_url=redis_server.url,
                              redis_options={"socket_timeout": 5})
    other["x"] = "y"
    other.flush()
    eventually(lambda: d.get("x") == "y")


def test_reads_and_writes_never_wait_for_redis(redis_server):
    """With redis-server frozen (SIGSTOP), 10k RedisDict operations on a
    loaded hash still complete: reads come from the near cache and writes are
    queued. Once Redis runs again, every write lands. An asyncio ticker
    reports the largest loop stall (printed, not asserted: see benchmarks/)."""
    d = fastsio.RedisDict("frozen", redis_url=redis_server.url)
    for i in range(100):
        d[f"k{i}"] = i
    d.flush()
    assert len(d) == 100

    async def run():
        gaps = []
        stop = False

        async def ticker():
            last = time.perf_counter()
            while not stop:
                await asyncio.sleep(0)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        t = asyncio.ensure_future(ticker())
        redis_server.pause()
        try:
            for i in range(5000):
                d[f"k{i % 100}"] = i
                assert d[f"k{i % 100}"] == i
                await asyncio.sleep(0) if i % 100 == 0 else None
        finally:
            stop = True
            await t
            redis_server.resume()
        return max(gaps)

    biggest = asyncio.run(run())
    print(f"largest loop gap during 10k ops with Redis frozen: {biggest * 1000:.2f} ms")
    assert d.flush(timeout=10) == 0
    r = redis_server.client()
    assert {k: json.loads(v) for k, v in r.hgetall("frozen").items()} == \
        {f"k{i}": 4900 + i for i in range(100)}


def test_writes_during_an_outage_land_after_restart(redis_server):
    d = fastsio.RedisDict("outage", redis_url=redis_server.url)
    d["before"] = 1
    d.flush()
    redis_server.stop()
    d["during"] = 2
    del d["before"]
    assert d["during"] == 2 and "before" not in d
    redis_server.start()
    assert d.flush(timeout=15) == 0
    r = redis_server.client()
    assert r.hgetall("outage") == {"during": "2"}


def test_set_with_signature_and_cached_dict(redis_server):
    r = redis_server.client()
    models = fastsio.CachedRedisDict("models", redis_url=redis_server.url)
    models.set({"m1": {"id": "m1"}, "m2": {"id": "m2"}})
    models.flush()
    sig = r.get("models:signature")
    assert sig and ":" in sig
    assert {k: json.loads(v) for k, v in r.hgetall("models").items()} == \
        {"m1": {"id": "m1"}, "m2": {"id": "m2"}}
    models.set({"m1": {"id": "m1"}, "m2": {"id": "m2"}})   # same content: not rewritten
    models.flush()
    assert r.get("models:signature") == sig
    models.set({"m2": {"id": "m2", "v": 2}})
    models.flush()
    assert r.hgetall("models") == {"m2": json.dumps({"id": "m2", "v": 2})}
    assert r.get("models:signature") != sig
    models["m3"] = 1
    models.flush()
    assert r.get("models:signature") is None                # a write clears it
    models.set({})
    models.flush()
    assert r.exists("models") == 0


def test_redis_lock_is_owner_checked(redis_server):
    a = fastsio.RedisLock(redis_server.url, "lock:x", 5)
    b = fastsio.RedisLock(redis_server.url, "lock:x", 5)
    assert a.aquire_lock() is True
    assert b.acquire_lock() is False
    assert b.renew_lock() is False and a.renew_lock() is True
    b.release_lock()
    r = redis_server.client()
    assert r.get("lock:x") == a.lock_id
    a.release_lock()
    assert r.get("lock:x") is None

    async def run():
        assert await b.aacquire_lock() is True
        assert await b.arenew_lock() is True
        await b.arelease_lock()
    asyncio.run(run())
    assert r.get("lock:x") is None


def test_ydoc_store(redis_server):
    store = fastsio.YdocStore(redis_server.url, redis_key_prefix="p:ydoc")
    r = redis_server.client()

    async def run():
        assert await store.append_update("doc", [1, 2, 3]) == 1
        assert await store.append_update("doc", b"\x04") == 2
        assert await store.get_updates("doc") == [b"\x01\x02\x03", b"\x04"]
        assert await store.document_exists("doc")
        await store.add_user("doc", "s1")
        await store.add_user("doc2", "s1")
        await store.add_user("doc", "s2")
        assert sorted(await store.get_users("doc")) == ["s1", "s2"]
        assert await store.count_documents_for_user("s1") == 2
        assert r.lrange("p:ydoc:doc:updates", 0, -1) == ["[1, 2, 3]", "[4]"]
        assert sorted(r.smembers("p:ydoc:session:s1:documents")) == ["doc", "doc2"]
        assert await store.remove_user_from_all_documents("s1") == ["doc2"]
        assert await store.get_users("doc") == ["s2"]
        await store.clear_document("doc")
        assert not await store.document_exists("doc")
    asyncio.run(run())


def test_unix_socket_and_password(tmp_path):
    from tests.conftest import RedisServer
    sock = str(tmp_path / "r.sock")
    server = RedisServer(["--unixsocket", sock, "--requirepass", "s3cret"])
    try:
        d = fastsio.RedisDict("u", redis_url=f"unix://:s3cret@{sock}?db=2")
        d["k"] = "v"
        d.flush()
        import redis
        r = redis.Redis(unix_socket_path=sock, password="s3cret", db=2, decode_responses=True)
        assert r.hget("u", "k") == '"v"'
        tcp = fastsio.RedisDict("t", redis_url=f"redis://:s3cret@127.0.0.1:{server.port}/3")
        tcp["k"] = 1
        tcp.flush()
        r3 = redis.Redis(port=server.port, password="s3cret", db=3, decode_responses=True)
        assert r3.hget("t", "k") == "1"
    finally:
        server.stop()


def test_sentinel_failover(tmp_path):
    """A RedisDict and a RedisLock through Sentinel: master + replica + one
    sentinel; the master is killed, the sentinel promotes the replica, and
    writes made before and after land on the new master."""
    import subprocess
    import redis
    from tests.conftest import RedisServer, free_port
    master = RedisServer(["--dir", str(tmp_path)])
    replica = RedisServer(["--dir", str(tmp_path), "--replicaof", "127.0.0.1", str(master.port)])
    sport = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {sport}\nbind 127.0.0.1\ndir {tmp_path}\n"
                    f"sentinel monitor mymaster 127.0.0.1 {master.port} 1\n"
                    "sentinel down-after-milliseconds mymaster 1000\n"
                    "sentinel failover-timeout mymaster 3000\n")
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    sentinel = subprocess.Popen(["redis-server", str(conf), "--sentinel"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        eventually(lambda: redis.Redis(port=replica.port).info("replication")
                   .get("master_link_status") == "up", timeout=10)
        url = f"redis+sentinel://127.0.0.1:{sport}/0/mymaster"
        d = fastsio.RedisDict("ha", redis_url=url)
        d["before"] = 1
        assert d.flush(timeout=10) == 0
        lock = fastsio.RedisLock("redis://mymaster/0", "ha:lock", 30,
                                 redis_sentinels=[("127.0.0.1", sport)])
        assert lock.aquire_lock()
        eventually(lambda: redis.Redis(port=replica.port).hget("ha", "before") == b"1",
                   timeout=5)
        master.stop()
        d["after"] = 2                       # queued while there is no master
        eventually(lambda: redis.Redis(port=replica.port).info("replication")
                   ["role"] == "master", timeout=20)
        assert d.flush(timeout=20) == 0
        new = redis.Redis(port=replica.port, decode_responses=True)
        assert new.hgetall("ha") == {"before": "1", "after": "2"}
        assert d["after"] == 2 and d["before"] == 1
        assert lock.renew_lock()             # the lock key was replicated
    finally:
        sentinel.kill()
        sentinel.wait()
        replica.stop()
        master.stop()
