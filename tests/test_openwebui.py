"""End to end: the real Open WebUI 0.12.4 (PyPI wheel, unchanged; it pins
python-socketio 5.16.2) served by `python -m fastsio serve open_webui.main:app`.

Real processes on loopback: Open WebUI from build/openwebui-venv (made by
scripts/openwebui_env.sh; these tests skip without it), a fake OpenAI server
streaming `chat.completions` (tests/openwebui/fake_openai.py), redis-server
where needed, and Open WebUI's frontend's socket played by the JS
socket.io-client (tests/openwebui/client.mjs): connect to /ws/socket.io with
auth {token} over websocket, `user-join` (ack {id, name}), `heartbeat`, a
channel's `events:channel` typing relay between two clients of the same user,
and a streamed chat (`POST /api/chat/completions` with session_id = the
socket's sid) whose text the client rebuilds from the `events` messages.

Scenarios, one Open WebUI process each (two for the fleet):
- in-memory manager;
- WEBSOCKET_MANAGER=redis, room channels on and off;
- a fleet sharing one Redis and one database: one instance under fastsio,
  one unpatched (uvicorn + python-socketio); each client on its own instance
  gets the chats started through the other.

Logs: build/test-logs/openwebui-*.log; a summary line per scenario (timings,
`events` count) is appended to build/test-logs/openwebui-summary.jsonl.
"""
import json
import os
import sys
import threading
import time

import pytest

from tests.conftest import ROOT, RedisServer
from tests.openwebui import owui
from tests.openwebui.fake_openai import MODEL_ID, expected_text

_PROBLEM = owui.venv_problem()
pytestmark = pytest.mark.skipif(_PROBLEM is not None, reason=f"Open WebUI end-to-end: {_PROBLEM}")

TOKENS = 500
TOKENS_PER_SECOND = 1000    # the fake model's pace: 500 tokens in half a second
PASSWORD = "fastsio-pw-123"
SUMMARY = os.path.join(ROOT, "build", "test-logs", "openwebui-summary.jsonl")


def summarize(scenario, **facts):
    line = {"scenario": scenario, "at": time.strftime("%Y-%m-%d %H:%M:%S"), **facts}
    os.makedirs(os.path.dirname(SUMMARY), exist_ok=True)
    with open(SUMMARY, "a") as f:
        f.write(json.dumps(line) + "\n")
    print(json.dumps(line), file=sys.stderr)


def assert_serves_with_fastsio(webui):
    """The server process runs fastsio: its C extension fastsio/_core*.so is
    mapped in that very process (`python -m fastsio serve` runs uvicorn in
    it, no worker), and it was started as `-m fastsio serve` without
    --no-swap. The wire cannot tell: fastsio answers byte for byte as
    python-socketio does (same Engine.IO sids, same HTTP errors and headers,
    checked by hand). The maps alone would also list _core under --no-swap
    (`-m fastsio` imports the package); what proves the swap itself took
    effect is Redis-side, in test_redis_manager and test_mixed_fleet: only
    fastsio's RedisDict (installed by the swap's Open WebUI patch) subscribes
    to __redis__:invalidate with CLIENT TRACKING. The unpatched instance,
    which never imports fastsio, maps no _core."""
    with open(f"/proc/{webui.pid}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    assert b"fastsio" in argv and b"serve" in argv and b"--no-swap" not in argv, argv
    assert webui.uses_fastsio_core(), (
        f"fastsio's _core extension is not loaded in Open WebUI's process {webui.pid}")


def assert_clean_log(*webuis):
    for webui in webuis:
        problems = webui.problems()
        assert not problems, (f"Open WebUI ({'fastsio' if webui.served else 'unpatched'}) logged "
                              f"problems:\n" + "\n".join(problems[:40])
                              + f"\n--- log tail ({webui.log_path}):\n{webui.output()[-8000:]}")


class Site:
    """Open WebUI instance(s) with a signed-up admin and one channel."""

    def __init__(self, webuis, user, channel):
        self.webuis = webuis
        self.user = user
        self.channel = channel
        self.token = user["token"]


def new_site(webui):
    user = webui.signup("Ada", "ada@example.com", PASSWORD)
    assert user["role"] == "admin" and user["token"]
    channel = webui.create_channel(user["token"], "general")
    return Site([webui], user, channel)


def chat_spec(webui, via, tokens=TOKENS):
    return {"via": via, "url": webui.url, "model": MODEL_ID,
            "prompt": f"Stream please. tokens={tokens} rate={TOKENS_PER_SECOND}",
            "timeoutMs": 60000}


def check_clients(result, site, names):
    for name in names:
        c = result["clients"][name]
        assert c["transport"] == "websocket"
        # user-join's ack is the handler's return value {id, name}
        assert c["userJoin"] == {"id": site.user["id"], "name": "Ada"}, c
        assert c["heartbeat"] == 0      # acked (the handler returns nothing)
        assert c["connectedAtEnd"] is True
    assert len({result["clients"][n]["sid"] for n in names}) == len(names)


def check_usage(result):
    """`usage` {model} from every client shows in GET /api/usage of every
    instance (get_models_in_use: the keys of USAGE_POOL)."""
    usage = result["usage"]
    for url, seen in usage["seen"].items():
        missing = set(usage["models"]) - set(seen["modelIds"])
        assert not missing, f"{url}/api/usage lacks {missing} after {seen['ms']} ms: {seen}"


def check_typing(result, site, names):
    """events:channel typing from the first client reaches every client of
    the same user in room channel:<id>, the sender included."""
    typing = result["typing"]
    for key in ("toOther", "toSelf"):
        got = typing[key]
        assert got["channel_id"] == site.channel["id"]
        assert got["data"] == {"type": "typing", "data": {"typing": True}}
        assert got["user"]["id"] == site.user["id"] and got["user"]["name"] == "Ada"


def check_stream(chat, names, tokens=TOKENS):
    """Every client rebuilt exactly the streamed text, from the deltas of
    `response:completion` events and from the final `chat:completion`
    snapshot, and saw the stream end (done)."""
    expected = expected_text(tokens)
    assert chat["response"]["status"] is True and chat["chatId"], chat["response"]
    for name in names:
        got = chat["clients"][name]
        assert got["done"] is True, (name, got["types"])
        assert got["deltaText"] == expected, (name, _diff(got["deltaText"], expected))
        assert got["snapshotText"] == expected, (name, _diff(got["snapshotText"], expected))
        assert got["responseTypes"].get("response.output_text.delta", 0) >= 1


def check_chat_room(result, site, names):
    """`events:chat` join (ack true) and presence; typing relayed to the
    other sessions in room chat:<id>, not back to the sender (skip_sid)."""
    room = result["chatRoom"]
    me = {"id": site.user["id"], "name": "Ada"}
    assert room["joinAcks"] == {n: True for n in names}, room
    for name in names:
        assert room["presence"][name] == [me], room["presence"]
    assert room["typingAck"] is True
    for name in names[1:]:
        got = room["toOthers"][name]
        assert got["chat_id"] == (result.get("chat") or result["chats"][0])["chatId"]
        assert got["data"] == {"type": "typing", "data": {"typing": True}}
        assert got["shared"] is True and got["user"] == me
    assert room["senderGotTyping"] is False


def _diff(got, expected):
    if got is None:
        return "nothing rebuilt"
    n = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
    return (f"lengths {len(got)} vs {len(expected)}; first difference at {n}: "
            f"{got[max(0, n - 30):n + 30]!r} vs {expected[max(0, n - 30):n + 30]!r}")


def check_redis_pools_cleared(redis, result):
    """After the clients left, Open WebUI's disconnect handler removed their
    sessions from SESSION_POOL and their models from USAGE_POOL, both Redis
    hashes (open-webui:session_pool, open-webui:usage_pool) shared by the
    instances. Polled, bounded: the handler runs once the server notices."""
    sids = {c["sid"] for c in result["clients"].values()}
    probes = set(result["usage"]["models"])
    r = redis.client()
    deadline = time.monotonic() + 10
    while True:
        left_sessions = sids & set(r.hkeys("open-webui:session_pool"))
        left_models = probes & set(r.hkeys("open-webui:usage_pool"))
        if not left_sessions and not left_models:
            return
        assert time.monotonic() < deadline, (
            f"still in Redis 10 s after the clients left: sessions {left_sessions}, "
            f"models {left_models}")
        time.sleep(0.1)


class ResumeWatcher(threading.Thread):
    """Polls Open WebUI's response-resume buffers in Redis while a chat
    streams (open-webui:tasks:response_streams:<task>: a JSON snapshot line,
    then one JSON line per appended delta) and checks every state it sees:
    each line is whole JSON, and the text they make is a prefix of the
    streamed text."""

    PATTERN = "open-webui:tasks:response_streams:*"

    def __init__(self, redis, expected):
        super().__init__(daemon=True)
        self.r = redis.client()
        self.expected = expected
        self.seen = 0            # polls that found a buffer with text
        self.longest = 0
        self.problems = []
        self.halt = threading.Event()

    @staticmethod
    def text_of(value):
        snapshot, *deltas = [json.loads(line) for line in value.split("\n") if line]
        parts = []
        for item in snapshot.get("output") or []:
            if item.get("type") == "message":
                parts += [p.get("text", "") for p in item.get("content") or []
                          if p.get("type") == "output_text"]
        parts += [d["delta"] for d in deltas if str(d.get("type")).endswith("output_text.delta")]
        return "".join(parts)

    def run(self):
        while not self.halt.is_set():
            for key in self.r.scan_iter(self.PATTERN):
                value = self.r.get(key)
                if not value:
                    continue
                try:
                    text = self.text_of(value)
                except (ValueError, KeyError, AttributeError, TypeError) as exc:
                    self.problems.append(f"{key}: {exc!r}: {value[-300:]!r}")
                    continue
                if not self.expected.startswith(text):
                    self.problems.append(f"{key}: not a prefix: {_diff(text, self.expected)}")
                elif text:
                    self.seen += 1
                    self.longest = max(self.longest, len(text))
            self.halt.wait(0.005)

    def stop(self):
        self.halt.set()
        self.join(5)


def redis_evals(redis):
    return redis.client().info("commandstats").get("cmdstat_eval", {}).get("calls", 0)


MERGE_WINDOW_MS = 50     # fastsio's default (FASTSIO_MERGE_WINDOW_MS unset)


def check_merged(chat, name, tokens):
    """The text deltas reached `name` merged: far fewer emits than tokens, and
    at most one per merge window over the time they arrived in (a window's
    timer flushes at its first delta + 50 ms, so two merged emits are at
    least a window apart; +2 for arrival jitter)."""
    got = chat["clients"][name]
    emits, span = got["deltaEmits"], got["deltaSpanMs"]
    assert 1 <= emits < tokens / 2, f"{emits} delta emits for {tokens} tokens"
    assert emits <= span / MERGE_WINDOW_MS + 3, f"{emits} delta emits in {span} ms"


def check_unmerged(chat, name, tokens):
    """One `events` emit per token (python-socketio's Open WebUI, or the opt-out)."""
    emits = chat["clients"][name]["deltaEmits"]
    assert emits >= tokens, f"{emits} delta emits for {tokens} tokens: merged?"


def run_two_clients(site, webui):
    """Clients a and b of the same user on one instance: usage, channel
    typing, a streamed chat started by a, and the chat's room."""
    return owui.run_client({
        "token": site.token,
        "clients": [{"name": "a", "url": webui.url}, {"name": "b", "url": webui.url}],
        "usage": True,
        "channelId": site.channel["id"],
        "chat": chat_spec(webui, "a"),
        "chatRoom": True,
    }, servers=[webui])


def check_two_clients(result, site):
    names = ["a", "b"]
    check_clients(result, site, names)
    check_usage(result)
    check_typing(result, site, names)
    check_stream(result["chat"], names)
    for name in names:
        check_merged(result["chat"], name, TOKENS)
    check_chat_room(result, site, names)


def usage_ms(result):
    return {url.rsplit(":", 1)[1]: seen["ms"] for url, seen in result["usage"]["seen"].items()}


def counts(chat, name):
    got = chat["clients"][name]
    return {"events": got["all"], "assistant_events": got["count"], "types": got["types"],
            "stream_ms": chat["streamedMs"]}


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def fake_openai():
    server = owui.FakeOpenAI(tokens=TOKENS, rate=TOKENS_PER_SECOND)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def memory_site(fake_openai, tmp_path_factory):
    """One Open WebUI under fastsio with the in-memory manager, for the
    module (test_memory_manager and test_stream_is_merged share it)."""
    data = str(tmp_path_factory.mktemp("openwebui-memory"))
    webui = owui.OpenWebUI(served=True, data_dir=data, openai_url=fake_openai.url,
                           extra_env=NO_WAL)
    try:
        site = new_site(webui)
        yield site
    finally:
        webui.stop()


@pytest.fixture
def redis():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def started():
    """started(process) registers a process to stop at teardown."""
    procs = []
    yield procs.append
    for p in reversed(procs):
        p.stop()


# ---------------------------------------------------------------- tests

def test_memory_manager(memory_site):
    webui = memory_site.webuis[0]
    assert_serves_with_fastsio(webui)
    t0 = time.monotonic()
    result = run_two_clients(memory_site, webui)
    check_two_clients(result, memory_site)
    assert_clean_log(webui)
    summarize("memory", startup_s=round(webui.startup_s, 1),
              client_s=round(time.monotonic() - t0, 1), tokens=TOKENS, usage_ms=usage_ms(result),
              a=counts(result["chat"], "a"), b=counts(result["chat"], "b"))


@pytest.mark.parametrize("room_channels", [True, False], ids=["room-channels", "one-channel"])
def test_redis_manager(room_channels, fake_openai, redis, started, tmp_path):
    webui = owui.OpenWebUI(served=True, data_dir=str(tmp_path), openai_url=fake_openai.url,
                           redis_url=redis.url, room_channels=room_channels)
    started(webui)
    assert_serves_with_fastsio(webui)
    site = new_site(webui)
    t0 = time.monotonic()
    watcher = ResumeWatcher(redis, expected_text(TOKENS))
    watcher.start()
    evals = redis_evals(redis)
    try:
        result = run_two_clients(site, webui)
    finally:
        watcher.stop()
    evals = redis_evals(redis) - evals
    # the response-resume buffer: whole lines and a prefix of the text in
    # every state seen, written in a few EVALs (Open WebUI: one per token)
    assert not watcher.problems, watcher.problems[:5]
    assert watcher.seen >= 1, "never saw the response-resume buffer while streaming"
    assert evals < TOKENS / 3, f"{evals} EVALs for {TOKENS} tokens"
    check_two_clients(result, site)
    # the websocket manager really is on Redis (the process listens on
    # python-socketio's channel), and Open WebUI's RedisDicts are fastsio's
    # (the near cache's CLIENT TRACKING subscriber, docs/redis.md: Open
    # WebUI's own RedisDict reads Redis directly and never subscribes to it)
    channels = set(redis.client().pubsub_channels())
    assert {"socketio", "__redis__:invalidate"} <= channels, channels
    check_redis_pools_cleared(redis, result)
    assert_clean_log(webui)
    summarize(f"redis-{'room-channels' if room_channels else 'one-channel'}",
              startup_s=round(webui.startup_s, 1), client_s=round(time.monotonic() - t0, 1),
              tokens=TOKENS, usage_ms=usage_ms(result), evals=evals,
              resume_polls=watcher.seen, resume_longest=watcher.longest,
              a=counts(result["chat"], "a"), b=counts(result["chat"], "b"))


@pytest.mark.parametrize("room_channels", [True, False], ids=["room-channels", "one-channel"])
def test_mixed_fleet(room_channels, fake_openai, redis, started, tmp_path):
    """One Open WebUI under fastsio and one unpatched (python-socketio), one
    Redis, one database: a chat started through either instance streams to
    the user's client on the other one (events go to room user:<id>), and
    channel typing crosses the fleet too."""
    data = str(tmp_path)
    common = dict(data_dir=data, openai_url=fake_openai.url, redis_url=redis.url,
                  room_channels=room_channels)
    # one after the other: the first runs the database migrations
    served = owui.OpenWebUI(served=True, **common)
    started(served)
    site = new_site(served)
    plain = owui.OpenWebUI(served=False, **common)
    started(plain)
    assert_serves_with_fastsio(served)
    assert not plain.uses_fastsio_core(), "the unpatched instance loaded fastsio"
    # one process of the two tracks keys for a near cache: fastsio's
    tracking = [c for c in redis.client().client_list() if "t" in c.get("flags", "")]
    assert len(tracking) == 1, tracking
    # the same user and token on the other instance (shared database and secret)
    assert plain.signin("ada@example.com", PASSWORD)["id"] == site.user["id"]
    t0 = time.monotonic()
    result = owui.run_client({
        "token": site.token,
        "clients": [{"name": "onFastsio", "url": served.url},
                    {"name": "onPlain", "url": plain.url}],
        "usage": True,
        "channelId": site.channel["id"],
        "chats": [chat_spec(served, "onFastsio"), chat_spec(plain, "onPlain")],
        "chatRoom": True,
    }, timeout=180, servers=[served, plain])
    names = ["onFastsio", "onPlain"]
    check_clients(result, site, names)
    # each instance lists the models both clients reported (USAGE_POOL is a
    # Redis hash written by fastsio's RedisDict on one side, redis-py's on the other)
    check_usage(result)
    check_typing(result, site, names)
    through_served, through_plain = result["chats"]
    check_stream(through_served, names)
    check_stream(through_plain, names)
    # merging happens where the stream runs: on the fastsio instance (its
    # Redis publishes are the merged emits, for both clients); the
    # unpatched instance publishes one emit per token
    for name in names:
        check_merged(through_served, name, TOKENS)
        check_unmerged(through_plain, name, TOKENS)
    check_chat_room(result, site, names)
    check_redis_pools_cleared(redis, result)
    # both clients saw the same events of each chat
    for chat in result["chats"]:
        assert chat["clients"]["onFastsio"]["types"] == chat["clients"]["onPlain"]["types"]
    assert_clean_log(served, plain)
    summarize(f"fleet-{'room-channels' if room_channels else 'one-channel'}",
              startup_s={"fastsio": round(served.startup_s, 1), "plain": round(plain.startup_s, 1)},
              client_s=round(time.monotonic() - t0, 1), tokens=TOKENS, usage_ms=usage_ms(result),
              via_fastsio={n: counts(through_served, n) for n in names},
              via_plain={n: counts(through_plain, n) for n in names})


# SQLite in rollback-journal mode: the file change counter (header bytes
# 24-27) then counts write transactions, the database writes of an action
NO_WAL = {"DATABASE_ENABLE_SQLITE_WAL": "false"}
APPENDS = 120
APPEND_ACTION = """
\"\"\"
title: Append
\"\"\"
import asyncio


class Action:
    async def action(self, body, __event_emitter__=None):
        for i in range(%d):
            await __event_emitter__({"type": "message", "data": {"content": f" a{i}ü"}})
            await asyncio.sleep(0.002)
        return None
""" % APPENDS


def db_writes(webui):
    with open(os.path.join(webui.data_dir, "webui.db"), "rb") as f:
        return int.from_bytes(f.read(28)[24:28], "big")


def run_append_action(webui, token, chat):
    """An Open WebUI action function (installed over its API) appending
    APPENDS texts to the streamed message with `message` events, as tools
    and actions do. -> (database writes during the action, the stored
    content before, after)."""
    if not webui.request("GET", "/api/v1/functions/id/append", token=token, allow_404=True):
        webui.request("POST", "/api/v1/functions/create", {
            "id": "append", "name": "Append", "content": APPEND_ACTION,
            "meta": {"description": "appends text"}}, token=token)
        webui.request("POST", "/api/v1/functions/id/append/toggle", token=token)

    def stored():
        got = webui.request("GET", f"/api/v1/chats/{chat['chatId']}", token=token)
        return got["chat"]["history"]["messages"][chat["assistantId"]]["content"]
    before = stored()
    writes = db_writes(webui)
    webui.request("POST", "/api/chat/actions/append", {
        "model": MODEL_ID, "chat_id": chat["chatId"], "id": chat["assistantId"],
        "session_id": "no-such-session", "messages": []}, token=token, timeout=60)
    deadline = time.monotonic() + 10    # the last window's write may follow the answer
    expected = before + "".join(f" a{i}ü" for i in range(APPENDS))
    while stored() != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return db_writes(webui) - writes, before, stored()


def test_stream_is_merged(memory_site):
    """A model streaming 300 tokens at 200 tokens/s: the client rebuilds the
    exact text from at most 20 delta emits per second (python-socketio: one
    per token, 507 `events` for 500 tokens)."""
    webui = memory_site.webuis[0]
    tokens, rate = 300, 200
    spec = chat_spec(webui, "a", tokens)
    spec["prompt"] = f"Stream please. tokens={tokens} rate={rate}"
    result = owui.run_client({
        "token": memory_site.token,
        "clients": [{"name": "a", "url": webui.url}],
        "chat": spec,
    }, servers=[webui])
    chat = result["chat"]
    check_stream(chat, ["a"], tokens)
    check_merged(chat, "a", tokens)
    got = chat["clients"]["a"]
    # paced at 200 tokens/s the deltas span about 1.5 s: the text is still
    # streamed progressively, not sent in one lump at the end
    assert got["deltaEmits"] >= 5, got["deltaEmits"]
    # an action's `message` appends: the same stored text, written once per
    # window instead of once per event (Open WebUI: a read and a write each)
    writes, before, after = run_append_action(webui, memory_site.token, chat)
    assert before and after == before + "".join(f" a{i}ü" for i in range(APPENDS))
    assert 1 <= writes < APPENDS / 4, f"{writes} database writes for {APPENDS} appends"
    summarize("merged", tokens=tokens, rate=rate, a=counts(chat, "a"),
              delta_emits=got["deltaEmits"], delta_span_ms=got["deltaSpanMs"],
              append_db_writes=writes, appends=APPENDS)


def test_merge_opt_out(fake_openai, tmp_path):
    """FASTSIO_OPENWEBUI_MERGE=0: Open WebUI's emitter as it is, one emit per
    token, the rest of the swap unchanged."""
    webui = owui.OpenWebUI(served=True, data_dir=str(tmp_path), openai_url=fake_openai.url,
                           extra_env={"FASTSIO_OPENWEBUI_MERGE": "0", **NO_WAL})
    try:
        assert_serves_with_fastsio(webui)
        site = new_site(webui)
        tokens = 100
        result = owui.run_client({
            "token": site.token,
            "clients": [{"name": "a", "url": webui.url}],
            "chat": chat_spec(webui, "a", tokens),
        }, servers=[webui])
        check_stream(result["chat"], ["a"], tokens)
        check_unmerged(result["chat"], "a", tokens)
        writes, before, after = run_append_action(webui, site.token, result["chat"])
        assert before and after == before + "".join(f" a{i}ü" for i in range(APPENDS))
        assert writes >= APPENDS, f"{writes} database writes for {APPENDS} appends"
        assert_clean_log(webui)
    finally:
        webui.stop()
