"""C core tests, and proof that the codec corpus matches the reference.

test_c_core_under_sanitizers builds and runs every tests/c/test_*.c under
ASan/UBSan (tests/c/run.sh). The other tests read the corpus files in
tests/c/corpus/ (the same files test_codecs.c runs) and check each line
against python-socketio / python-engineio, so the expectations the C tests
hold the codecs to are the reference's behaviour, except where a line is
explicitly marked as a deliberate difference ("strict").
"""
import asyncio
import base64
import json
import os
import re
import subprocess

import engineio
import pytest
from engineio import packet as eio_packet
from engineio import payload as eio_payload
from socketio import packet as sio_packet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "tests", "c", "corpus")


def test_c_core_under_sanitizers():
    proc = subprocess.run(["bash", os.path.join(ROOT, "tests", "c", "run.sh")],
                          capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "PASS test_codecs" in proc.stdout, output
    assert "FAIL" not in proc.stdout, output


# ----------------------------------------------------------- corpus reading

def unescape(field):
    """The corpus escapes, as test_codecs.c reads them, giving a str."""
    if field == "~":
        return ""
    raw = re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]),
                 field.encode("utf-8"))
    return raw.decode("utf-8")


def unhex(field):
    return b"" if field == "~" else bytes.fromhex(field)


def corpus(name):
    """(line number, fields) for each case line of a corpus file."""
    with open(os.path.join(CORPUS, name), encoding="utf-8", newline="\n") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if line and not line.startswith("#"):
                yield lineno, line.split("\t")


def cases(name):
    return [pytest.param(fields, id=f"{name}:{lineno}") for lineno, fields in corpus(name)]


class RawJson:
    """Stands in for the json module: bodies pass through as text, so the
    reference's exact body boundaries can be compared."""

    @staticmethod
    def loads(s, **kwargs):
        return s

    @staticmethod
    def dumps(obj, **kwargs):
        return obj


class RawSioPacket(sio_packet.Packet):
    json = RawJson
    n_attachments = 0

    def deconstruct_binary(self, data):
        # Pretend the data holds n_attachments binary parts.
        return data, [b""] * self.n_attachments


class RawEioPacket(eio_packet.Packet):
    json = RawJson


# ---------------------------------------------------------------- Socket.IO

@pytest.mark.parametrize("fields", cases("sio_valid.txt"))
def test_sio_valid_corpus_matches_reference(fields):
    form, kind, encoded, ptype, nsp, pid, natt, data = fields
    assert form in ("canon", "alt") and kind in ("json", "raw")
    encoded, nsp, data = unescape(encoded), unescape(nsp), unescape(data)
    pid = None if pid == "-" else int(pid)

    # Header fields and the exact body text, with the body left unparsed.
    raw = RawSioPacket(encoded_packet=encoded)
    assert raw.packet_type == int(ptype)
    assert (raw.namespace or "/") == nsp
    assert raw.id == pid
    assert raw.attachment_count == int(natt)
    assert raw.data == (data or None)

    # The real decoder: parses the body iff the corpus says it is JSON.
    if kind == "json":
        pkt = sio_packet.Packet(encoded_packet=encoded)
        assert pkt.packet_type == int(ptype)
        assert (pkt.namespace or "/") == nsp
        assert pkt.id == pid
        assert pkt.attachment_count == int(natt)
        assert pkt.data == (json.loads(data) if data else None)
    else:
        with pytest.raises(ValueError):
            sio_packet.Packet(encoded_packet=encoded)

    # Canonical lines are exactly what python-socketio writes for the fields.
    out = RawSioPacket(int(ptype), data=data or None,
                       namespace=None if nsp == "/" else nsp, id=pid)
    out.n_attachments = int(natt)
    written = out.encode()
    if isinstance(written, list):   # binary types: [packet, *attachments]
        assert len(written) == 1 + int(natt)
        written = written[0]
    assert (written == encoded) == (form == "canon")


@pytest.mark.parametrize("fields", cases("sio_invalid.txt"))
def test_sio_invalid_corpus_matches_reference(fields):
    kind, encoded, _error = fields
    encoded = unescape(encoded)
    if kind == "both":
        with pytest.raises(ValueError):
            sio_packet.Packet(encoded_packet=encoded)
    else:
        # A deliberate difference: the reference accepts the packet.
        assert kind == "strict"
        sio_packet.Packet(encoded_packet=encoded)


# ---------------------------------------------------------------- Engine.IO

@pytest.mark.parametrize("fields", cases("eio_text.txt"))
def test_eio_text_corpus_matches_reference(fields):
    kind, encoded = fields[0], unescape(fields[1])
    if kind == "ok":
        pkt = RawEioPacket(encoded_packet=encoded)
        assert not pkt.binary
        assert pkt.packet_type == int(fields[2])
        assert pkt.data == unescape(fields[3])
    elif kind == "err":
        with pytest.raises(ValueError):
            eio_packet.Packet(encoded_packet=encoded)
    else:
        assert kind == "strict"
        eio_packet.Packet(encoded_packet=encoded)


@pytest.mark.parametrize("fields", cases("eio_b64.txt"))
def test_eio_b64_corpus_matches_reference(fields):
    kind, encoded = fields[0], unescape(fields[1])
    assert encoded.startswith("b")
    if kind == "ok":
        pkt = eio_packet.Packet(encoded_packet=encoded)
        assert pkt.binary and pkt.packet_type == eio_packet.MESSAGE
        assert pkt.data == unhex(fields[2])
    elif kind == "err":
        with pytest.raises(ValueError):   # binascii.Error is a ValueError
            eio_packet.Packet(encoded_packet=encoded)
    else:
        assert kind == "strict"
        eio_packet.Packet(encoded_packet=encoded)


class RecordingPacket:
    """Replaces engineio.packet.Packet inside Payload.decode."""

    def __init__(self, encoded_packet):
        self.encoded = encoded_packet


@pytest.mark.parametrize("fields", cases("eio_payload.txt"))
def test_eio_payload_corpus_matches_reference(fields, monkeypatch):
    kind, max_packets, body = fields[0], int(fields[1]), unescape(fields[2])
    monkeypatch.setattr(eio_payload.packet, "Packet", RecordingPacket)
    monkeypatch.setattr(eio_payload.Payload, "max_decode_packets", max_packets)
    if kind == "ok":
        elements = [unescape(f) for f in fields[4:]]
        assert len(elements) == int(fields[3])
        p = eio_payload.Payload(encoded_payload=body)
        assert [pkt.encoded for pkt in p.packets] == elements
    elif kind == "toomany":
        with pytest.raises(ValueError):
            eio_payload.Payload(encoded_payload=body)
    else:
        assert kind == "empty" and body == ""
        assert eio_payload.Payload(encoded_payload=body).packets == []


@pytest.mark.parametrize("fields", cases("eio_join.txt"))
def test_eio_join_corpus_matches_reference(fields):
    packets = []
    for spec in fields[1:]:
        if spec.startswith("t:"):
            text = unescape(spec[2:])
            packets.append(eio_packet.Packet(int(text[0]), data=text[1:]))
        else:
            assert spec.startswith("b:")
            packets.append(eio_packet.Packet(eio_packet.MESSAGE, data=unhex(spec[2:])))
    assert eio_payload.Payload(packets=packets).encode() == unescape(fields[0])


@pytest.mark.parametrize("fields", cases("eio_open.txt"))
def test_eio_open_corpus_matches_reference(fields):
    sid, upgrade, timeout, interval, max_payload, expected = fields
    # The dict exactly as engineio.AsyncServer._handle_connect builds it.
    pkt = eio_packet.Packet(eio_packet.OPEN, {
        "sid": sid,
        "upgrades": ["websocket"] if int(upgrade) else [],
        "pingTimeout": int(timeout),
        "pingInterval": int(interval),
        "maxPayload": int(max_payload),
    })
    assert pkt.encode() == expected


def test_eio_open_corpus_matches_a_real_server_handshake():
    """A polling handshake against engineio.AsyncServer with default settings
    gives the corpus's default OPEN packet, up to the random sid."""
    server = engineio.AsyncServer(async_mode="asgi")
    app = engineio.ASGIApp(server)
    scope = {"type": "http", "method": "GET", "path": "/engine.io/",
             "query_string": b"EIO=4&transport=polling", "headers": [],
             "scheme": "http", "server": ("127.0.0.1", 80)}
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    body = body.decode("utf-8")
    sid = json.loads(body[1:])["sid"]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", sid)
    defaults = [f for _, f in corpus("eio_open.txt")
                if f[1:5] == ["1", "20000", "25000", "1000000"]]
    assert defaults, "eio_open.txt has no line with the default settings"
    template = defaults[0]
    assert body == template[5].replace('"sid":"%s"' % template[0], '"sid":"%s"' % sid)


def test_corpus_escape_reader_agrees_with_c():
    """The escape rules documented in the corpus headers."""
    assert unescape("~") == ""
    assert unescape("a\\x1eb") == "a\x1eb"
    assert unescape("\\xc3\\xa9") == "é"
    assert unescape('"\\t"') == '"\\t"'
    assert base64.b64encode(unhex("00ff")) == b"AP8="
