"""fastsio.Stream (sio.stream): merged delta events, end to end.

The server (tests/apps/stream_app.py, a real uvicorn process) emits a list of
Open WebUI-shaped `events` through one ``sio.stream("events", room=...)``;
python-socketio AsyncClients receive them over websocket. A model of what
Open WebUI's frontend does with each event (csrc/merge/merge.h's rules:
deltas concatenate per addressing key, a level-2 snapshot sets output and
content and resets the delta-accumulated item texts, a level-1 snapshot and a
replace set content, other events are logged with a copy of the state at
that moment) must give the same result for what was sent and for what was
received, and every "other" event must arrive in the order it was sent.

Every test that needs fastsio has "fastsio" in its name (the ASan pass of
scripts/test.sh selects them with -k). The _core.Merger binding tests
(test_merger_*) import fastsio in this process, so they run in the plain
pass; test_fastsio_merger_bindings_in_server_env runs them again in a
subprocess that loads fastsio the way the server processes do (the ASan
build with the sanitizer runtime preloaded, in that pass). Nothing imports
fastsio at module level: the ASan pass collects this file without the
sanitizer runtime in the pytest process.
"""
import asyncio
import copy
import json
import os
import random
import subprocess
import sys

import pytest
import socketio   # python-socketio's client

from tests.conftest import PACKAGE_DIR, ROOT, SERVER_PRELOAD, ServerProcess

APP = "tests.apps.stream_app:app"
WINDOW = 0.05                                   # fastsio's default window
FLAGS = ("done", "error", "usage", "sources", "selected_model_id", "choices")
ABSENT = {"$absent": True}


# --------------------------------------------------------------- the model

def u16(s):
    """A JS string: UTF-16 code units (a surrogate pair split over two
    deltas joins, as it does in the browser)."""
    return s.encode("utf-16-le", "surrogatepass")


def compact(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=True)


def canon(args):
    return json.dumps(args, separators=(",", ":"), ensure_ascii=True, sort_keys=True,
                      default=lambda b: {"$bytes": bytes(b).hex()})


def truthy(v):
    """JS truthiness of a decoded JSON value ([] and {} are true)."""
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v != 0
    if isinstance(v, str):
        return v != ""
    return True


class ClientModel:
    """What Open WebUI's frontend keeps per message, and the log of the
    events it does not merge (with the state each of them saw)."""

    def __init__(self):
        self.msgs = {}
        self.log = []

    def _msg(self, ev):
        key = compact([ev.get("chat_id"), ev.get("message_id")])
        return self.msgs.setdefault(key, {"content": b"", "runs": []})

    def state(self):
        return {k: {"content": v["content"].hex(), "runs": [[rk, rt.hex()] for rk, rt in v["runs"]]}
                for k, v in sorted(self.msgs.items()) if v["content"] or v["runs"]}

    def _other(self, args):
        self.log.append((canon(args), compact(self.state())))

    def apply_args(self, args):
        """args: the arguments of one `events` emit, as the client gets them."""
        if len(args) == 1:
            self._apply(args[0])
        else:
            self._other(args)

    def _apply(self, ev):
        E = ev.get("data") if isinstance(ev, dict) else None
        D = E.get("data") if isinstance(E, dict) else None
        if not isinstance(D, dict):
            return self._other([ev])
        T = E.get("type")
        if T == "response:completion":
            t, delta = D.get("type"), D.get("delta")
            if not (isinstance(t, str) and t.startswith("response.") and t.endswith(".delta")
                    and isinstance(delta, str)):
                return self._other([ev])
            m = self._msg(ev)
            key = compact([D.get(f, ABSENT) for f in
                           ("type", "item_id", "output_index", "content_index", "summary_index")])
            if m["runs"] and m["runs"][-1][0] == key:
                m["runs"][-1][1] += u16(delta)
            else:
                m["runs"].append([key, u16(delta)])
            # Chat.svelte drops a lone "\n" delta on an empty message
            if t == "response.output_text.delta" and not (m["content"] == b"" and delta == "\n"):
                m["content"] += u16(delta)
        elif T in ("message", "chat:message:delta"):
            if not isinstance(D.get("content"), str):
                return self._other([ev])
            self._msg(ev)["content"] += u16(D["content"])
        elif T == "chat:completion":
            m = self._msg(ev)
            if truthy(D.get("output")):
                out = compact(D["output"])
                m["runs"] = [["SNAPSHOT", u16(out)]]
                m["content"] = u16("F:" + out)
            elif truthy(D.get("content")):
                c = D["content"]
                m["content"] = u16(c if isinstance(c, str) else compact(c))
            if any(truthy(D.get(f)) for f in FLAGS):
                self._other([ev])
        elif T in ("replace", "chat:message"):
            c = D.get("content")
            self._msg(ev)["content"] = (u16(c) if isinstance(c, str) else
                                        b"" if c is None else u16(compact(c)))
        else:
            self._other([ev])


def reduce_events(list_of_args):
    model = ClientModel()
    for args in list_of_args:
        model.apply_args(args)
    return model


def build(item):
    """The object the app emits for a spec item (tests/apps/stream_app.py)."""
    if isinstance(item, dict) and "__emit__" in item:
        kind = item["__emit__"]
        if kind == "tuple":
            return tuple(build(a) for a in item["args"])
        if kind == "binary":
            return {"tag": item["tag"], "blob": bytes(item["bytes"])}
        if kind == "bytes":
            return bytes(item["bytes"])
        if kind == "str":
            return item["value"]
        if kind == "none":
            return None
    return item


def args_of(item):
    """The arguments a client receives for one emit of spec item `item`."""
    obj = build(item)
    if obj is None:
        return []
    if isinstance(obj, tuple):
        return list(obj)
    return [obj]


def is_other(args):
    m = ClientModel()
    m.apply_args(args)
    return bool(m.log)


def assert_same_model(sent_args, received_args, label):
    want, got = reduce_events(sent_args), reduce_events(received_args)
    for key in sorted(set(want.state()) | set(got.state())):
        assert got.state().get(key) == want.state().get(key), (
            f"{label}: message {key} differs\n"
            f"sent:     {describe(want, key)}\nreceived: {describe(got, key)}")
    assert [e for e, _ in got.log] == [e for e, _ in want.log], (
        f"{label}: 'other' events differ or arrive out of order")
    for i, ((ev, w), (_, g)) in enumerate(zip(want.log, got.log)):
        assert g == w, f"{label}: state seen by other event #{i} {ev[:200]} differs:\n{w}\n{g}"


def describe(model, key):
    m = model.msgs.get(key)
    if not m:
        return None
    return {"content": m["content"].decode("utf-16-le", "surrogatepass"),
            "runs": [(k, t.decode("utf-16-le", "surrogatepass")) for k, t in m["runs"]]}


# ------------------------------------------------------------- the shapes

ENVS = [
    {"chat_id": "c1", "message_id": "m1"},
    {"chat_id": "c1", "message_id": "m2"},
    {"chat_id": "c2", "message_id": "m3", "user_id": "u1"},
]
ITEMS = [   # (kind, item_id, output_index, content_index, summary_index)
    ("output_text", "msg_1", 1, 0, None),
    ("output_text", "msg_2", 2, 0, None),
    ("reasoning_text", "rs_1", 0, 0, None),
    ("reasoning_summary_text", "rs_1", 0, None, 0),
]
PIECES = ["Hello", " world", ",", " ", "é", "à la carte", "naïve", "日本語", "中文", "😀",
          "👍🏽", "\"quoted\"", "back\\slash", "\\", "\"", "\t", "\x01", "\x1f", "\x7f",
          "\n", "\r\n", "\n\n", "\u2028", "\u00a0", "", "{\"json\": [1]}", "</script>", "ß",
          "\\u0041", "Ω", "x" * 40]


def envelope(env, E):
    ev = {"chat_id": env["chat_id"], "message_id": env["message_id"], "data": E}
    if "user_id" in env:
        ev["user_id"] = env["user_id"]
    return ev


def rdelta(env, item, delta, extra=None):
    kind, item_id, oi, ci, si = item
    D = {"type": f"response.{kind}.delta", "item_id": item_id, "output_index": oi}
    if ci is not None:
        D["content_index"] = ci
    if si is not None:
        D["summary_index"] = si
    D["delta"] = delta
    D.update(extra or {})
    return envelope(env, {"type": "response:completion", "data": D})


def mdelta(env, delta, T="message"):
    return envelope(env, {"type": T, "data": {"content": delta}})


class Gen:
    """One random stream of events (the spec the app runs) and what the test
    knows about it by construction."""

    def __init__(self, seed, surrogates=True, dests=None):
        self.r = random.Random(seed)
        self.surrogates = surrogates
        self.dest_choices = dests    # overrides to pick from, or None
        self.events, self.sleeps, self.dests = [], [], []
        self.burst_saving = 0        # sum of (K - 1) over clean bursts
        self.seq = 0

    def piece(self):
        return self.r.choice(PIECES)

    def delta(self, env=None, item=None, text=None):
        r = self.r
        env = env or r.choice(ENVS)
        text = self.piece() if text is None else text
        if item is None and r.random() < 0.3:
            item = r.choice(["message", "chat:message:delta"])
        if item in ("message", "chat:message:delta"):
            return mdelta(env, text, item)
        item = item or r.choice(ITEMS)
        extra = None
        if r.random() < 0.3:
            self.seq += 1
            extra = {"sequence_number": self.seq}
            if r.random() < 0.3:
                extra["logprobs"] = []
        return rdelta(env, item, text, extra)

    def snapshot(self, env=None):
        r = self.r
        env = env or r.choice(ENVS)
        text = "".join(self.piece() for _ in range(r.randint(1, 4))) or "snap"
        if r.random() < 0.5:
            D = {"content": text}
        else:
            D = {"content": text, "output": [] if r.random() < 0.1 else [
                {"type": "message", "id": "msg_1", "status": "in_progress", "role": "assistant",
                 "content": [{"type": "output_text", "text": text}]}]}
        roll = r.random()
        if roll < 0.15:     # members the client acts on: not a snapshot, "other"
            flag = r.choice(FLAGS)
            D[flag] = {"done": True, "error": {"content": "boom"},
                       "usage": {"prompt_tokens": 3, "completion_tokens": 5},
                       "sources": [{"source": {"name": "doc"}}],
                       "selected_model_id": "gpt-x", "choices": [{"i": 0}]}[flag]
        elif roll < 0.3:    # present but inactive: still a snapshot
            D[r.choice(FLAGS)] = r.choice([None, False])
        return envelope(env, {"type": "chat:completion", "data": D})

    def replace(self):
        env = self.r.choice(ENVS)
        return envelope(env, {"type": self.r.choice(["replace", "chat:message"]),
                              "data": {"content": "".join(self.piece() for _ in range(2))}})

    def other(self):
        r = self.r
        env = r.choice(ENVS)
        roll = r.randrange(12)
        if roll == 0:
            return envelope(env, {"type": "status", "data": {
                "action": "web_search", "description": "Searching «ç»", "done": r.random() < 0.5}})
        if roll == 1:
            return envelope(env, {"type": "source", "data": {
                "source": {"name": "doc.pdf"}, "document": ["text é"], "metadata": [{}]}})
        if roll == 2:
            return envelope(env, {"type": "chat:title", "data": "Title 日本"})
        if roll == 3:
            return envelope(env, {"type": "response:completion", "data": {
                "type": "response.output_item.added", "item": {"id": "msg_1"}}})
        if roll == 4:
            return envelope(env, {"type": "response:completion", "data": {
                "type": "response.output_text.done", "item_id": "msg_1", "text": "all"}})
        if roll == 5:
            return envelope(env, {"type": "message", "data": {"content": 5}})
        if roll == 6:
            return envelope(env, {"type": "chat:completion", "data": {"content": ""}})
        if roll == 7:
            return {"__emit__": "tuple", "args": [{"a": 1}, "b", [2]]}
        if roll == 8:
            return r.choice([[1, "two", None], 7, {"__emit__": "none"}, {"x": {"y": "é"}}])
        if roll == 9:
            return {"__emit__": "binary", "tag": self.seq, "bytes": [0, 255, 10, 34, 92]}
        if roll == 10:    # one argument, a delta, but as a tuple: never merged
            return {"__emit__": "tuple", "args": [self.delta()]}
        return envelope(env, {"type": "notification", "data": {"type": "info", "content": "hi"}})

    def add(self, ev, sleep=0.0, dest=None):
        self.events.append(ev)
        self.sleeps.append(sleep)
        self.dests.append(dest)

    def burst(self, budget_bytes):
        """K same-key deltas with no await between them, after an "other"
        event (nothing pending before them): exactly one emit for the K,
        whatever the timing, as long as the merged text stays under the
        bound (no emit of the stream can happen while the app does not
        yield to the loop)."""
        r = self.r
        self.add(self.other(), self.pause())
        env, item = r.choice(ENVS), r.choice(ITEMS + ["message", "chat:message:delta"])
        k = r.randint(5, 60) if r.random() < 0.75 else r.randint(60, 150)
        pieces = [r.choice([p for p in PIECES if p not in ("", "\n")])]
        pieces += [self.piece() for _ in range(k - 1)]
        if self.surrogates and r.random() < 0.5:
            at = r.randint(1, k - 1)
            pieces[at:at] = ["\ud83d", "\ude00"]
        evs = [self.delta(env, item, p) for p in pieces]
        last = copy.deepcopy(evs[-1])
        D = last["data"]["data"]
        D["delta" if "delta" in D else "content"] = "".join(pieces)
        # (+64: an earlier delta of the burst may carry more members)
        if len(compact(last)) + 64 <= budget_bytes:
            self.burst_saving += len(evs) - 1
        for ev in evs:
            self.add(ev)

    def pause(self, window=WINDOW):
        roll = self.r.random()
        if roll < 0.75 or self.budget <= 0:
            return 0
        if roll < 0.93:
            s = self.r.uniform(0.001, 0.01)
        else:
            s = window + self.r.uniform(0.005, 0.02)
        self.budget -= s
        return round(s, 4)

    def stream(self, n, window, max_bytes, budget=0.25):
        r = self.r
        self.budget = budget
        bound = max_bytes or 16384
        while len(self.events) < n:
            roll = r.random()
            if roll < 0.08:
                self.burst(bound)
                continue
            if roll < 0.55:
                ev = self.delta()
                if self.surrogates and r.random() < 0.05:   # a pair split over two deltas
                    D = ev["data"]["data"]
                    field = "delta" if "delta" in D else "content"
                    D[field] = "\ud83d"
                    second = copy.deepcopy(ev)
                    second["data"]["data"][field] = "\ude00"
                    self.add(ev, self.pause(window), self.dest())
                    ev = second
            elif roll < 0.62:
                ev = self.snapshot()
            elif roll < 0.65:   # snapshots of one message in a row (levels 1 and 2)
                env = r.choice(ENVS)
                for _ in range(r.randint(1, 3)):
                    self.add(self.snapshot(env), self.pause(window), self.dest())
                ev = self.snapshot(env)
            elif roll < 0.72:
                ev = self.replace()
            elif roll < 0.76:   # a message starting with a lone "\n"
                ev = self.delta(self.r.choice(ENVS), ITEMS[0], "\n")
            else:
                ev = self.other()
            self.add(ev, self.pause(window), self.dest())

    def dest(self):
        if self.dest_choices and self.r.random() < 0.15:
            return self.r.choice(self.dest_choices)
        return None


# ------------------------------------------------------------------ clients

class Observer:
    """A python-socketio client recording every `events` emit it gets."""

    def __init__(self, url):
        self.url = url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events = []       # list of args lists, in arrival order
        self.markers = {}      # marker n -> len(events) when it arrived

        @self.sio.on("events")
        async def on_events(*args):
            self.events.append(list(args))

        @self.sio.on("marker")
        async def on_marker(n):
            self.markers[n] = len(self.events)

    async def connect(self, rooms):
        await self.sio.connect(self.url, transports=["websocket"])
        self.sid = await self.call("whoami")
        await self.call("join", rooms)
        return self

    async def call(self, event, data=None, timeout=60):
        return await self.sio.call(event, data, timeout=timeout)

    async def wait_marker(self, n, timeout=20):
        deadline = asyncio.get_running_loop().time() + timeout
        while n not in self.markers:
            assert asyncio.get_running_loop().time() < deadline, f"marker {n} never arrived"
            await asyncio.sleep(0.005)
        return self.markers[n]

    async def wait_events(self, count, timeout=20):
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.events) < count:
            assert asyncio.get_running_loop().time() < deadline, (
                f"{len(self.events)} events arrived, expected {count}: {self.events}")
            await asyncio.sleep(0.005)


class Session:
    """The driver/observer a (rooms r1 and r2) and observer b (room r1) on
    `url`, or with b_url the observers on another process of a Redis fleet
    (the driver then only drives)."""

    def __init__(self):
        self.marker_n = 0

    async def open(self, url, observer_url=None):
        self.driver = await Observer(url).connect([])
        self.a = await Observer(observer_url or url).connect(["r1", "r2"])
        self.b = await Observer(observer_url or url).connect(["r1"])
        return self

    async def close(self):
        for o in (self.driver, self.a, self.b):
            await o.sio.disconnect()

    async def run(self, spec):
        """Runs spec, waits until everything the stream sends has arrived
        (a marker emitted after it), returns (ack, received by a, by b)."""
        start_a, start_b = len(self.a.events), len(self.b.events)
        ack = await self.driver.call("run", spec)
        if not spec.get("close", True) and spec.get("keep"):
            deadline = asyncio.get_running_loop().time() + 20
            while True:
                st = await self.driver.call("state", spec["id"])
                if not st["pending"]:
                    ack["out"] = st["out"]
                    break
                assert asyncio.get_running_loop().time() < deadline, "timer never flushed"
                await asyncio.sleep(0.01)
        self.marker_n += 1
        await self.driver.call("marker", {"n": self.marker_n, "room": "r1"})
        end_a = await self.a.wait_marker(self.marker_n)
        end_b = await self.b.wait_marker(self.marker_n)
        return ack, self.a.events[start_a:end_a], self.b.events[start_b:end_b]


def reaches_b(dest, b_sid):
    dest = dest or {}
    room = dest.get("to") or dest.get("room") or "r1"
    return room == "r1" and dest.get("skip_sid") != b_sid


# ----------------------------------------------------------- the servers

@pytest.fixture(scope="module")
def stream_server():
    server = ServerProcess("fastsio", APP)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stream_server_orjson():
    server = ServerProcess("fastsio", APP, env={"APP_JSON": "orjson"})
    yield server
    server.stop()


# ----------------------------------------------------------- the property

async def property_runs(session, seeds, label, surrogates=True, json_dumps=None):
    sent_total = received_total = saving_total = 0
    b_sid = session.b.sid
    dest_choices = [{"room": "r2"}, {"to": "r2"}, {"room": "r1"}, {"skip_sid": b_sid}]
    for seed in seeds:
        r = random.Random(seed * 7919)
        window = r.choice([None, None, 0.03, 0.08])
        max_bytes = r.choice([None, None, None, 600, 2500])
        g = Gen(seed, surrogates=surrogates, dests=dest_choices if r.random() < 0.5 else None)
        g.stream(r.randint(30, 150), window or WINDOW, max_bytes)
        close = r.random() < 0.8
        spec = {"room": "r1", "events": g.events, "sleeps": g.sleeps, "dests": g.dests,
                "close": close, "keep": not close, "id": f"{label}-{seed}"}
        if window is not None:
            spec["window"] = window
        if max_bytes is not None:
            spec["max_bytes"] = max_bytes
        ack, got_a, got_b = await session.run(spec)
        where = f"{label} seed {seed} (window {window}, max_bytes {max_bytes}, close {close})"
        assert ack["errors"] == [], where
        sent_a = [args_of(ev) for ev in g.events]
        sent_b = [args_of(ev) for ev, d in zip(g.events, g.dests) if reaches_b(d, b_sid)]
        assert ack["in"] == len(g.events), where
        assert ack["out"] == len(got_a), where
        assert len(got_a) <= len(sent_a) - g.burst_saving, where
        assert len(got_b) <= len(sent_b), where
        assert_same_model(sent_a, got_a, f"{where}, observer a")
        assert_same_model(sent_b, got_b, f"{where}, observer b (r1, skipped by some)")
        # "other" events: each arrives once, in the order it was sent
        others_sent = [canon(a) for a in sent_a if is_other(a)]
        assert [canon(a) for a in got_a if is_other(a)] == others_sent, where
        # the bound: a text over max_bytes is one event sent as is, or a merge
        # that passed the bound with its last delta (emitted at once)
        if json_dumps is not None:
            bound = (max_bytes or 16384) + max(len(json_dumps(a[0])) for a in sent_a if len(a) == 1)
            for args in got_a:
                if len(args) == 1 and isinstance(args[0], dict):
                    assert len(json_dumps(args[0])) <= bound, where
        sent_total += len(sent_a)
        received_total += len(got_a)
        saving_total += g.burst_saving
    print(f"\n{label}: {len(seeds)} streams, {sent_total} emits in, {received_total} out "
          f"(at most {sent_total - saving_total} by construction)")
    # the streams are mostly bursts: merging must have removed most emits
    assert saving_total > sent_total / 2, (sent_total, saving_total)
    return sent_total, received_total


def stdlib_dumps(obj):
    return json.dumps(obj, separators=(",", ":"), default=lambda b: "")


@pytest.mark.parametrize("json_mode", ["stdlib-json", "orjson"])
async def test_fastsio_stream_property(json_mode, request):
    server = request.getfixturevalue(
        "stream_server" if json_mode == "stdlib-json" else "stream_server_orjson")
    session = await Session().open(server.url)
    try:
        if json_mode == "stdlib-json":
            await property_runs(session, range(40), json_mode, json_dumps=stdlib_dumps)
        else:
            import orjson   # lone surrogates are not JSON orjson can write
            await property_runs(session, range(100, 115), json_mode, surrogates=False,
                                json_dumps=lambda o: orjson.dumps(o, default=lambda b: "").decode())
    finally:
        await session.close()


async def test_fastsio_stream_burst_merges(stream_server):
    """Long same-key bursts sent without sleeps, with a window of 200 ms:
    one emit per burst (each is preceded by an "other" event)."""
    session = await Session().open(stream_server.url)
    try:
        r = random.Random(5)
        events, texts = [], []
        for i in range(6):
            item = ITEMS[i % len(ITEMS)]
            events.append(envelope(ENVS[0], {"type": "status", "data": {"i": i}}))
            pieces = [r.choice(PIECES[:20]) + str(j) for j in range(100)]
            texts.append("".join(pieces))
            events += [rdelta(ENVS[0], item, p) for p in pieces]
        ack, got_a, got_b = await session.run({"room": "r1", "events": events, "window": 0.2})
        assert ack["in"] == 606 and ack["errors"] == []
        assert len(got_a) == 12, [a[0]["data"] for a in got_a]
        assert [a[0]["data"]["data"]["delta"] for a in got_a[1::2]] == texts
        assert got_b == got_a
        assert_same_model([[e] for e in events], got_a, "bursts")
    finally:
        await session.close()


# ------------------------------------------------------- direct scenarios

async def test_fastsio_stream_lone_delta_arrives_by_timer(stream_server):
    """One delta, the stream left open and unreferenced: its timer sends it."""
    session = await Session().open(stream_server.url)
    try:
        ev = rdelta(ENVS[0], ITEMS[0], "only one é")
        start = len(session.a.events)
        ack = await session.driver.call("run", {"room": "r1", "events": [ev], "close": False})
        assert ack == {"in": 1, "out": 0, "pending": True, "errors": []}
        await session.a.wait_events(start + 1)
        await session.b.wait_events(1)
        assert session.a.events[start:] == [[ev]] and session.b.events == [[ev]]
    finally:
        await session.close()


async def test_fastsio_stream_unclosed_tail_arrives(stream_server):
    """Events then a burst, never closed nor referenced: the burst (the
    tail, pending when the handler returns) arrives by the timer alone, and
    nothing is lost or duplicated (a marker sent afterwards comes last)."""
    session = await Session().open(stream_server.url)
    try:
        head = [envelope(ENVS[1], {"type": "status", "data": {"n": 1}}),
                rdelta(ENVS[1], ITEMS[2], "think "), mdelta(ENVS[1], "hello"),
                envelope(ENVS[1], {"type": "status", "data": {"n": 2}})]
        tail = [rdelta(ENVS[1], ITEMS[0], p) for p in ["a", "😀", "\n", "\"", "日本"] * 10]
        events = head + tail
        ack = await session.driver.call("run", {"room": "r1", "events": events, "close": False,
                                                "window": 0.1})
        # the deltas of the head went out when the next event came; the tail waits
        assert ack == {"in": len(events), "out": 4, "pending": True, "errors": []}
        await session.a.wait_events(5)
        session.marker_n += 1
        await session.driver.call("marker", {"n": session.marker_n, "room": "r1"})
        assert await session.a.wait_marker(session.marker_n) == 5
        got = session.a.events
        assert got[:4] == [[e] for e in head]
        assert got[4][0]["data"]["data"]["delta"] == "a😀\n\"日本" * 10
        assert_same_model([[e] for e in events], got, "unclosed")
        await session.b.wait_marker(session.marker_n)
        assert session.b.events == got
    finally:
        await session.close()


async def test_fastsio_stream_kept_open_stream_flushes_by_timer(stream_server):
    """A stream left open (kept referenced): pending after the handler, not
    pending once its window has passed, and the tail arrived."""
    session = await Session().open(stream_server.url)
    try:
        events = [mdelta(ENVS[2], p, "chat:message:delta") for p in ["x", "y", "\\", "z"]]
        ack, got_a, got_b = await session.run(
            {"room": "r1", "events": events, "close": False, "keep": True, "id": "kept"})
        assert ack["pending"] is True and ack["out"] == 1
        assert got_a == got_b == [[mdelta(ENVS[2], "xy\\z", "chat:message:delta")]]
    finally:
        await session.close()


async def test_fastsio_stream_unmerged_arguments_in_order(stream_server):
    """Non-dict data, several arguments (tuple), binary data (bytes inside a
    dict), None: each goes out as is, after what was pending, in order."""
    session = await Session().open(stream_server.url)
    try:
        d = [rdelta(ENVS[0], ITEMS[0], t) for t in "abcdefgh"]
        binary = {"__emit__": "binary", "tag": 1, "bytes": [0, 1, 255, 10]}
        events = [d[0], d[1], {"__emit__": "tuple", "args": [d[2], "x"]}, d[3],
                  binary, d[4], [1, [2]], d[5], 42, {"__emit__": "none"}, d[6], d[7],
                  {"__emit__": "tuple", "args": [d[0]]}]
        ack, got_a, got_b = await session.run({"room": "r1", "events": events})
        assert ack["errors"] == []
        ab = rdelta(ENVS[0], ITEMS[0], "ab")
        gh = rdelta(ENVS[0], ITEMS[0], "gh")
        assert got_a == [[ab], [d[2], "x"], [d[3]],
                         [{"tag": 1, "blob": b"\x00\x01\xff\n"}], [d[4]], [[1, [2]]], [d[5]],
                         [42], [], [gh], [d[0]]]
        assert got_b == got_a
    finally:
        await session.close()


async def test_fastsio_stream_bare_str_and_bytes_arguments(stream_server):
    session = await Session().open(stream_server.url)
    try:
        d = [mdelta(ENVS[0], t) for t in "abc"]
        events = [d[0], {"__emit__": "str", "value": "hello"}, d[1],
                  {"__emit__": "str", "value": "42"}, {"__emit__": "bytes", "bytes": [0, 255]},
                  d[2]]
        ack, got_a, _ = await session.run({"room": "r1", "events": events})
        assert ack["errors"] == []
        assert got_a == [[d[0]], ["hello"], [d[1]], ["42"], [b"\x00\xff"], [d[2]]]
    finally:
        await session.close()


async def test_fastsio_stream_destination_change_flushes_first(stream_server):
    """a is in r1 and r2, b in r1. Deltas of one key to r1, r2, r1 with b
    skipped, r1: what is pending goes out (to its own destination) before
    an emit to another one; no merge crosses a destination."""
    session = await Session().open(stream_server.url)
    try:
        b = session.b.sid
        d = [mdelta(ENVS[0], t) for t in "0123456789"]
        dests = [None, None, {"room": "r2"}, {"to": "r2"}, {"room": "r1"}, None,
                 {"skip_sid": b}, {"skip_sid": b}, None, {"room": "r2"}]
        ack, got_a, got_b = await session.run({"room": "r1", "events": d, "dests": dests})
        assert ack["errors"] == []
        m = lambda s: [mdelta(ENVS[0], s)]   # noqa: E731
        assert got_a == [m("01"), m("23"), m("45"), m("67"), m("8"), m("9")]
        assert got_b == [m("01"), m("45"), m("8")]
    finally:
        await session.close()


async def test_fastsio_stream_max_bytes(stream_server):
    """With max_bytes=300: no pending text over the bound; a merge that
    passes it is sent at once (so an emitted text is at most the bound plus
    one delta), and the whole text arrives."""
    session = await Session().open(stream_server.url)
    try:
        pieces = [f"p{i:03d}-é😀" for i in range(200)]
        events = [rdelta(ENVS[0], ITEMS[0], p, {"sequence_number": i})
                  for i, p in enumerate(pieces)]
        one = len(stdlib_dumps(events[0]))
        piece = max(len(stdlib_dumps(p)) - 2 for p in pieces)
        ack, got_a, _ = await session.run({"room": "r1", "events": events, "max_bytes": 300})
        assert ack["errors"] == []
        sizes = [len(stdlib_dumps(a[0])) for a in got_a]
        # (+2: the merged text has the last event's sequence_number, maybe a digit longer)
        assert all(s <= 300 + piece + 2 for s in sizes), sizes
        assert all(s > 300 for s in sizes[:-1]), sizes   # each sent when it passed the bound
        assert len(got_a) <= len(events) / 4
        assert "".join(a[0]["data"]["data"]["delta"] for a in got_a) == "".join(pieces)
        # the last event's other members win
        assert got_a[-1][0]["data"]["data"]["sequence_number"] == 199
        # one event over the bound goes out as is, alone
        big = rdelta(ENVS[0], ITEMS[0], "B" * 400)
        small = rdelta(ENVS[0], ITEMS[0], "s")
        ack, got_a, _ = await session.run(
            {"room": "r1", "events": [small, big, small, small], "max_bytes": 300})
        assert one < 300
        assert got_a == [[rdelta(ENVS[0], ITEMS[0], "s" + "B" * 400)],
                         [rdelta(ENVS[0], ITEMS[0], "ss")]]
        ack, got_a, _ = await session.run(
            {"room": "r1", "events": [big, small, big], "max_bytes": 300})
        assert got_a == [[big], [rdelta(ENVS[0], ITEMS[0], "s" + "B" * 400)]]
    finally:
        await session.close()


async def test_fastsio_stream_options_and_closed_stream(stream_server):
    session = await Session().open(stream_server.url)
    try:
        call = session.driver.call
        for bad in (0, -1, -0.5):
            err = await call("make", {"window": bad})
            assert err["error"] == "ValueError", (bad, err)
        for bad in (0, -3):
            assert (await call("make", {"max_bytes": bad}))["error"] == "ValueError"
        assert await call("make", {"window": None}) == "ok"
        assert await call("make", {"window": 0.001, "max_bytes": 1}) == "ok"
        ack, got_a, _ = await session.run(
            {"room": "r1", "events": [mdelta(ENVS[0], "x"), mdelta(ENVS[0], "y")],
             "emit_after_close": True})
        assert ack["errors"] == ["RuntimeError"]
        assert got_a == [[mdelta(ENVS[0], "xy")]]     # the emit after close sent nothing
    finally:
        await session.close()


async def test_fastsio_stream_replace_and_snapshots(stream_server):
    """The rules of merge.h seen from the client: a replace drops a pending
    content delta of its envelope, a covering snapshot replaces the pending
    one, a snapshot with done goes out (after what is pending)."""
    session = await Session().open(stream_server.url)
    try:
        e, f = ENVS[0], ENVS[2]
        snap1 = lambda c: envelope(e, {"type": "chat:completion", "data": {"content": c}})  # noqa
        snap2 = envelope(e, {"type": "chat:completion", "data": {
            "content": "z", "output": [{"type": "message", "content": []}]}})
        done = envelope(e, {"type": "chat:completion", "data": {"content": "fin", "done": True}})
        rep = envelope(e, {"type": "replace", "data": {"content": "R"}})
        events = [mdelta(e, "a"), mdelta(e, "b"), rep,               # deltas dropped
                  mdelta(f, "c"), rep,                               # other envelope: kept
                  snap1("one"), snap1("two"), snap2, snap1("three"),  # covered up to snap2
                  rdelta(e, ITEMS[0], "r"), rep,                      # response delta kept
                  snap1("four"), done]
        ack, got_a, _ = await session.run({"room": "r1", "events": events})
        assert ack["errors"] == []
        assert got_a == [[rep], [mdelta(f, "c")], [rep], [snap2], [snap1("three")],
                         [rdelta(e, ITEMS[0], "r")], [rep], [snap1("four")], [done]]
        assert_same_model([[x] for x in events], got_a, "rules")
    finally:
        await session.close()


# --------------------------------------------------------------- Redis

async def test_fastsio_stream_redis_fleet(redis_server, start_server):
    """The stream on process A, the observers on process B (both with
    AsyncRedisManager on one redis-server): the reconstruction holds across
    processes; a 300-delta burst is a handful of PUBLISHes, not 300."""
    env = {"REDIS_URL": redis_server.url}
    a = start_server("fastsio", APP, env=env)
    b = start_server("fastsio", APP, env=env)
    session = await Session().open(a.url, observer_url=b.url)
    try:
        await property_runs(session, range(200, 206), "redis", json_dumps=stdlib_dumps)

        r = redis_server.client()
        publishes = lambda: r.info("commandstats")["cmdstat_publish"]["calls"]  # noqa: E731
        before = publishes()
        pieces = [f"{i} é😀\n" for i in range(300)]
        events = [envelope(ENVS[0], {"type": "status", "data": {"x": 1}})]
        events += [rdelta(ENVS[0], ITEMS[0], p) for p in pieces]
        ack, got_a, got_b = await session.run({"room": "r1", "events": events, "window": 0.2})
        after = publishes()
        assert ack["errors"] == [] and ack["out"] == 2
        assert got_a == got_b == [[events[0]], [rdelta(ENVS[0], ITEMS[0], "".join(pieces))]]
        # the stream's two emits and the test's marker (3 when nothing else publishes)
        assert 3 <= after - before <= 5, (before, after)
    finally:
        await session.close()


# ------------------------------------------------- _core.Merger in-process

def core():
    from fastsio import _core
    return _core


def ev_text(E, **env):
    return json.dumps({"chat_id": "c", "message_id": "m", **env, "data": E},
                      separators=(",", ":"))


def md(text):
    return ev_text({"type": "message", "data": {"content": text}})


def rd(text, item="i1", **extra):
    return ev_text({"type": "response:completion", "data": {
        "type": "response.output_text.delta", "item_id": item, "output_index": 0,
        "content_index": 0, "delta": text, **extra}})


OTHER = ev_text({"type": "status", "data": {"done": True}})


def test_merger_identity_and_types():
    _core = core()
    m = _core.Merger()
    other = OTHER
    out = m.push(other, 1)
    assert len(out) == 1 and out[0] is other
    bother = other.encode()
    out = m.push(bother, 2)
    assert len(out) == 1 and out[0] is bother and type(out[0]) is bytes
    # str in -> str out, the merge a new object
    a, b = rd("é😀"), rd("\"x\\")
    assert m.push(a, 3) == () and m.push(b, 4) == ()
    out = m.push(other, 5)
    assert type(out[0]) is str and json.loads(out[0]) == json.loads(rd("é😀\"x\\"))
    assert out[1] is other
    # bytes in -> bytes out
    assert m.push(a.encode(), 6) == () and m.push(b.encode(), 7) == ()
    merged = m.flush()
    assert type(merged) is bytes and json.loads(merged) == json.loads(rd("é😀\"x\\"))
    assert m.flush() is None
    # a delta alone is returned by flush as a copy (equal, of the pushed type)
    assert m.push(a, 8) == ()
    flushed = m.flush()
    assert flushed == a and type(flushed) is str
    # raw UTF-8 pieces join too (orjson / ensure_ascii=False)
    raw = lambda t: json.dumps(json.loads(rd(t)), ensure_ascii=False, separators=(",", ":"))  # noqa
    assert m.push(raw("日本"), 9) == () and m.push(raw("😀"), 9) == ()
    assert m.flush() == raw("日本😀")
    # a surrogate pair split over two deltas (ensure_ascii) joins
    assert m.push(rd("\ud83d"), 10) == () and m.push(rd("\ude00"), 10) == ()
    assert json.loads(m.flush()) == json.loads(rd("😀"))


def test_merger_kinds():
    _core = core()
    snap = ev_text({"type": "chat:completion", "data": {"content": "x"}})
    assert [_core.merge_kind(t) for t in (OTHER, md("x"), rd("x"), snap,
                                          ev_text({"type": "replace", "data": {"content": ""}}),
                                          "not json", b"", "[1]")] == [0, 1, 1, 2, 3, 0, 0, 0]
    assert _core.merge_kind(rd("x").encode()) == 1
    for bad in (1, None, 1.5, ["x"]):
        with pytest.raises(TypeError):
            _core.merge_kind(bad)


def test_merger_rejects_bad_arguments():
    _core = core()
    m = _core.Merger(100)
    for bad in (1, None, 2.5, bytearray(b"{}"), memoryview(b"{}")):
        with pytest.raises(TypeError):
            m.push(bad, 1)
    with pytest.raises(TypeError):
        m.push(md("x"))
    with pytest.raises(TypeError):
        m.push(md("x"), 1, 2)
    with pytest.raises(TypeError):
        m.push(md("x"), 1.5)
    with pytest.raises(OverflowError):
        m.push(md("x"), 2 ** 70)
    for bad in (0, -1, -2 ** 40):
        with pytest.raises(ValueError):
            _core.Merger(bad)
    with pytest.raises(TypeError):
        _core.Merger("10")
    with pytest.raises(OverflowError):
        _core.Merger(2 ** 70)
    assert _core.Merger(max_bytes=1).push(md("x"), 1) == (md("x"),)   # over the bound: as is
    # nothing was disturbed
    assert m.push(md("x"), 1) == () and m.flush() == md("x")


def test_merger_invalid_text_does_not_crash():
    _core = core()
    m = _core.Merger()
    results = []
    cesu = json.dumps(json.loads(md("\udc80")), ensure_ascii=False)
    cesu = cesu.encode("utf-8", "surrogatepass")     # a surrogate as 3 bytes: not UTF-8
    for bad in (b"\xff\xfe", b'{"data":\xff}', cesu,
                b'{"chat_id":"c","message_id":"m","data":{"type":"message","data":{"content":"\xff"}}}',
                "\ud800", md("\ud800x"), md("a") + "\udfff"):
        try:
            out = m.push(bad, 1)
            out += ((m.flush(),) if m.pending_since() is not None else ())
            results.append(("ok", out))
        except (TypeError, UnicodeError) as exc:
            results.append((type(exc).__name__,))
    # str with lone surrogates cannot be UTF-8: refused before the merger
    assert results[4][0] == results[6][0] == "UnicodeEncodeError"
    # md("\ud800x") is plain ASCII JSON (json.dumps escapes the surrogate): merged
    assert results[5] == ("ok", (md("\ud800x"),))
    # bytes go through as pushed (not JSON: as is; a delta: pending, then flushed)
    assert results[0] == ("ok", (b"\xff\xfe",))
    assert results[1] == ("ok", (b'{"data":\xff}',))
    for r in results[2:4]:
        assert r[0] == "ok" and len(r[1]) == 1 and type(r[1][0]) is bytes
    # a pending delta of bytes that are not UTF-8, flushed as str (the type
    # of the last push): UnicodeDecodeError, and the merger goes on
    bad = b'{"chat_id":"c","message_id":"m","data":{"type":"message","data":{"content":"\xff"}}}'
    assert m.push(bad, 1) == () and m.push(md("y"), 2) == ()
    with pytest.raises(UnicodeDecodeError):
        m.flush()
    assert m.pending_since() is None
    assert m.push(md("z"), 3) == () and m.push(OTHER, 4) == (md("z"), OTHER)
    assert m.push(rd("q"), 5) == () and m.flush() == rd("q")


def test_merger_pending_since_and_bytes():
    _core = core()
    m = _core.Merger(200)
    assert m.pending_since() is None and m.pending_bytes() == 0
    a = rd("abc")
    assert m.push(a, 123) == ()
    assert m.pending_since() == 123 and m.pending_bytes() == len(a.encode())
    assert m.push(rd("dé"), 456) == ()
    assert m.pending_since() == 123 and m.pending_bytes() == len(rd("abcdé").encode())
    assert m.flush() == rd("abcdé")
    assert m.pending_since() is None and m.pending_bytes() == 0
    # a covering snapshot keeps the time of the one it replaces
    s1 = ev_text({"type": "chat:completion", "data": {"content": "one"}})
    s2 = ev_text({"type": "chat:completion", "data": {"content": "t", "output": []}})
    assert m.push(s1, -7) == () and m.pending_since() == -7
    assert m.push(s2, 9) == () and m.pending_since() == -7 and m.pending_bytes() == len(s2)
    # another key: the pending one goes out, the new one starts at its own time
    assert m.push(rd("x"), 10) == (s2,) and m.pending_since() == 10
    # the bound: the pending text never exceeds it; a merge that passes it goes out
    outs = []
    for i in range(100):
        outs += m.push(rd("0123456789"), 11 + i)
        assert m.pending_bytes() <= 200
    outs.append(m.flush())
    one = len(rd("0123456789")) - len(rd(""))
    assert all(200 < len(o) <= 200 + one for o in outs[:-1])
    assert "".join(json.loads(o)["data"]["data"]["delta"] for o in outs) == "x" + "0123456789" * 100


def test_fastsio_merger_bindings_in_server_env():
    """The test_merger_* tests again, in a process that imports fastsio as
    the servers do (under scripts/test.sh's ASan pass: the sanitizer build,
    its runtime preloaded)."""
    if not SERVER_PRELOAD:
        pytest.skip("no sanitizer runtime to preload: the test_merger_* tests ran in-process")
    env = dict(os.environ, LD_PRELOAD=SERVER_PRELOAD)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, PACKAGE_DIR, env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", os.path.join(ROOT, "tests", "test_stream.py"), "-q",
         "-p", "no:cacheprovider", "-k", "test_merger_"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 passed" in proc.stdout, proc.stdout


async def test_stream_new_pending_text_gets_its_own_window():
    """A push that sends the pending text and begins a new one (another
    message's delta) gives the new text a whole window of its own: it is
    not sent at the old text's deadline. A lower bound on the send time,
    so a slow machine cannot fail it."""
    import fastsio
    sent = []
    loop = asyncio.get_running_loop()

    async def record(event, data, **kw):
        sent.append((loop.time(), data["data"]["data"]["content"]))

    sio = fastsio.AsyncServer(async_mode="asgi")
    stream = fastsio.Stream(sio, "events", window=0.2, emit=record)
    await stream.emit(json.loads(md("a")))
    await asyncio.sleep(0.1)
    pushed_b = loop.time()
    await stream.emit(json.loads(ev_text({"type": "message", "data": {"content": "b"}},
                                         message_id="other")))
    assert [text for _, text in sent] == ["a"]     # sent by b's push
    while len(sent) < 2:
        await asyncio.sleep(0.01)
    at, text = sent[1]
    assert text == "b" and at >= pushed_b + 0.2 - 0.005, (at - pushed_b)
