"""Open WebUI's YdocManager under the swap: its own class (from the real
0.12.4 wheel in build/openwebui-venv) on redis-py, and the patched one on
fastsio's C client (fastsio.redis_facade), driven through the same sequence
against one real redis-server under two key prefixes. Same return values,
same Redis contents (keys, types, values), same document text, including
the rolling compaction at 500 updates, the size limit, the per-session
reverse index, the lock, and the disconnect clean-up that asks Open WebUI's
task helpers (which then also run on the facade)."""
import json
import os
import subprocess

import pytest

from tests.openwebui import owui

_PROBLEM = owui.venv_problem()
pytestmark = pytest.mark.skipif(_PROBLEM is not None, reason=f"Open WebUI: {_PROBLEM}")

SCRIPT = r"""
import asyncio, json, sys
import pycrdt as Y
import redis.asyncio as aioredis
from fastsio import swap
swap.install()
from open_webui.socket import utils            # patched at import
from fastsio.redis_facade import AsyncRedisFacade

URL = sys.argv[1]
Patched = utils.YdocManager
Original = Patched.__mro__[1]
assert Original.__module__ == "open_webui.socket.utils" and Patched is not Original


def updates(n):
    doc, out = Y.Doc(), []
    text = doc.get("t", type=Y.Text)
    doc.observe(lambda event: out.append(list(event.update)))
    for i in range(n):
        text += f"w{i} "
    return out


async def scenario(manager, r, prefix):
    log = []
    doc, other = "note:1", "note:2"
    log.append(await manager.document_exists(doc))
    await manager.add_user(doc, "sidA")
    await manager.add_user(doc, "sidB")
    await manager.add_user(other, "sidB")
    log.append(sorted(await manager.get_users(doc)))
    log.append(await manager.count_documents_for_user("sidB"))
    ups = updates(520)                          # past COMPACTION_THRESHOLD (500)
    for u in ups:
        async with manager.lock(doc):
            log.append(await manager.append_to_updates(doc, u))
    log.append(await manager.append_to_updates(doc, "not a list"))
    log.append(await manager.append_to_updates(doc, [255, 255, 255]))   # undecodable
    big = [0] * (manager.MAX_DOCUMENT_SIZE + 1)
    log.append(await manager.append_to_updates(other, big))             # over the limit
    stored = await manager.get_updates(doc)
    log.append(len(stored))
    rebuilt = Y.Doc()
    for u in stored:
        rebuilt.apply_update(u)
    log.append(str(rebuilt.get("t", type=Y.Text)))
    log.append(await manager.document_exists(doc))
    # the lock excludes: two holders never overlap
    inside, overlaps = [0], [0]
    async def hold():
        async with manager.lock(doc):
            inside[0] += 1
            overlaps[0] = max(overlaps[0], inside[0])
            await asyncio.sleep(0.02)
            inside[0] -= 1
    await asyncio.gather(*[hold() for _ in range(5)])
    log.append(overlaps[0])
    await manager.remove_user(doc, "sidA")
    log.append(sorted(await manager.get_users(doc)))
    await manager.remove_user_from_all_documents("sidB")   # last user: documents cleared
    log.append(await manager.document_exists(doc))
    log.append(await manager.document_exists(other))
    contents = {}
    async for key in r.scan_iter(f"{prefix}*"):
        kind = await r.type(key)
        value = {"string": r.get, "list": lambda k: r.lrange(k, 0, -1),
                 "set": r.smembers}[kind](key)
        value = await value
        contents[key[len(prefix):]] = [kind, sorted(value) if kind == "set" else value]
    return log, contents


async def main():
    r = aioredis.from_url(URL, decode_responses=True)
    original = Original(redis=r, redis_key_prefix="orig:ydoc")
    patched = Patched(redis=r, redis_key_prefix="fast:ydoc")
    assert isinstance(patched._redis, AsyncRedisFacade), type(patched._redis)
    a = await scenario(original, r, "orig:ydoc")
    b = await scenario(patched, r, "fast:ydoc")
    # a snapshot mid-way (before the clean-up) for the compaction state
    original2 = Original(redis=r, redis_key_prefix="orig:snap")
    patched2 = Patched(redis=r, redis_key_prefix="fast:snap")
    snaps = []
    same_updates = updates(510)      # one Y client id for both
    for m, prefix in ((original2, "orig:snap"), (patched2, "fast:snap")):
        for u in same_updates:
            await m.append_to_updates("d", u)
        keys = {}
        for what in ("updates", "size"):
            key = f"{prefix}:d:{what}"
            kind = await r.type(key)
            keys[what] = await (r.lrange(key, 0, -1) if kind == "list" else r.get(key))
        snaps.append(keys)
    print(json.dumps({"original": a, "patched": b, "snapshots": snaps}))
    await r.aclose()

asyncio.run(main())
"""


def test_ydoc_manager_matches_open_webui(redis_server, tmp_path):
    env = owui.app_env(str(tmp_path))
    proc = subprocess.run([owui.VENV_PYTHON, "-c", SCRIPT, redis_server.url], env=env,
                          capture_output=True, text=True, timeout=240, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    (log_a, contents_a), (log_b, contents_b) = out["original"], out["patched"]
    assert log_a == log_b
    assert contents_a == contents_b
    # what the scenario itself shows (so that equality is not of two failures)
    assert log_a[0] is False and log_a[1] == ["sidA", "sidB"] and log_a[2] == 2
    appended = log_a[3:3 + 520]
    assert appended == [True] * 520
    assert log_a[523:526] == [False, False, False]
    stored_count, text, exists, overlaps = log_a[526:530]
    assert stored_count < 520                  # compacted
    assert text == "".join(f"w{i} " for i in range(520))
    assert exists is True and overlaps == 1
    assert log_a[530] == ["sidB"] and log_a[531:] == [False, False]
    assert contents_a == {}                    # cleaned up entirely
    snap_a, snap_b = out["snapshots"]
    assert snap_a == snap_b and len(snap_a["updates"]) < 510 and int(snap_a["size"]) > 0
