"""Socket.IO packets, python-socketio's ``Packet`` API over the C codec.

``serializer=`` may name a subclass of :class:`Packet` (for example one that
overrides ``encode``/``decode`` for msgpack); the server then uses that class
for every packet. With the default class the server takes a faster path that
calls the same C codec directly.
"""
import json as _stdlib_json

from . import _core

(CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK) = range(7)
packet_names = ["CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR",
                "BINARY_EVENT", "BINARY_ACK"]
BINARY_TYPES = (bytes, bytearray)


# has_binary(data): True when data holds bytes or bytearray anywhere inside
# lists and dict values (in C: it runs on every emit and ack)
has_binary = _core.has_binary


def deconstruct_binary(data):
    """Returns (data with placeholders, list of attachments)."""
    attachments = []

    def walk(value):
        if isinstance(value, BINARY_TYPES):
            attachments.append(value)
            return {"_placeholder": True, "num": len(attachments) - 1}
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        return value

    return walk(data), attachments


def reconstruct_binary(data, attachments):
    """Replaces placeholders by attachments; ValueError on a bad index."""
    def walk(value):
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, dict):
            if value.get("_placeholder") and "num" in value:
                num = value["num"]
                if type(num) is not int or not 0 <= num < len(attachments):
                    raise ValueError("invalid binary attachment index")
                return attachments[num]
            return {key: walk(item) for key, item in value.items()}
        return value

    return walk(data)


def compact_dumps(json_module):
    """A dumps(obj) -> str for json_module, without spaces.

    The standard library (and compatible modules) take separators=; orjson
    takes no such argument, writes compact JSON already and returns bytes.
    For the standard library itself, the same text as
    dumps(obj, separators=(",", ":")) without building an encoder per call.
    """
    if json_module is _stdlib_json and _stdlib_encoder is not None:
        return _stdlib_compact_dumps
    dumps = json_module.dumps
    try:
        probe = dumps([1, {"a": 2}], separators=(",", ":"))
    except TypeError:
        probe = dumps([1, {"a": 2}])

        def compact(obj):
            out = dumps(obj)
            return out.decode("utf-8") if isinstance(out, bytes) else out
        if isinstance(probe, bytes):
            probe = probe.decode("utf-8")
        if probe != '[1,{"a":2}]':
            raise ValueError("json module must produce compact JSON")
        return compact
    if isinstance(probe, bytes):
        return lambda obj: dumps(obj, separators=(",", ":")).decode("utf-8")
    return lambda obj: dumps(obj, separators=(",", ":"))


def _make_stdlib_encoder():
    """The standard library's C encoder, built once with the settings
    json.dumps(obj, separators=(",", ":")) uses (ensure_ascii, circular
    check, allow_nan); None where the C accelerator is missing."""
    make = getattr(_stdlib_json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    markers = {}
    encoder = make(markers, _stdlib_json.JSONEncoder().default,
                   _stdlib_json.encoder.encode_basestring_ascii, None, ":", ",",
                   False, False, True)
    return markers, encoder


_stdlib_encoder = _make_stdlib_encoder()


def _stdlib_compact_dumps(obj):
    """Loop thread only: the encoder's circular-reference markers are shared
    by every call (emptied again after a failed one, which leaves them)."""
    markers, encoder = _stdlib_encoder
    if isinstance(obj, str):
        return _stdlib_json.encoder.encode_basestring_ascii(obj)
    try:
        return "".join(encoder(obj, 0))
    except BaseException:
        markers.clear()
        raise


def fast_loads(json_module):
    """A loads(str) for json_module. For the standard library, its C scanner
    called directly: a whole document with no surrounding whitespace (what
    clients send) decodes without json.loads's Python layers; anything else
    goes to json.loads, which gives the same value or the same error."""
    loads = json_module.loads
    scanner = getattr(_stdlib_json.scanner, "c_make_scanner", None)
    if json_module is not _stdlib_json or scanner is None:
        return loads
    scan = scanner(_stdlib_json.decoder.JSONDecoder())

    def fast(text):
        try:
            value, end = scan(text, 0)
        except StopIteration:
            return loads(text)
        if end != len(text):
            return loads(text)
        return value
    return fast


class Packet:
    """A Socket.IO packet (python-socketio compatible)."""

    uses_binary_events = True
    json = _stdlib_json

    def __init__(self, packet_type=EVENT, data=None, namespace=None, id=None,
                 binary=None, encoded_packet=None):
        self.packet_type = packet_type
        self.data = data
        self.namespace = namespace
        self.id = id
        if self.uses_binary_events and (
                binary or (binary is None and self.data_is_binary(self.data))):
            if self.packet_type == EVENT:
                self.packet_type = BINARY_EVENT
            elif self.packet_type == ACK:
                self.packet_type = BINARY_ACK
            else:
                raise ValueError("Packet does not support binary payload.")
        self.attachment_count = 0
        self.attachments = []
        if encoded_packet:
            self.attachment_count = self.decode(encoded_packet) or 0

    def encode(self):
        """A str, or a list [str, attachment, ...] for binary packets."""
        attachments = None
        data = self.data
        if self.packet_type in (BINARY_EVENT, BINARY_ACK):
            data, attachments = self.deconstruct_binary(self.data)
        body = None if data is None else compact_dumps(self.json)(data)
        encoded = _core.sio_encode(self.packet_type, self.namespace, self.id,
                                   len(attachments) if attachments is not None else 0,
                                   body)
        if attachments is not None:
            return [encoded] + attachments
        return encoded

    def decode(self, encoded_packet):
        """Decodes the packet text; returns the attachment count to expect."""
        ptype, namespace, pid, count, body = _core.sio_decode(encoded_packet)
        self.packet_type = ptype
        self.namespace = namespace
        self.id = pid
        self.data = self.json.loads(body) if body else None
        return count

    def add_attachment(self, attachment):
        if self.attachment_count <= len(self.attachments):
            raise ValueError("Unexpected binary attachment")
        self.attachments.append(attachment)
        if self.attachment_count == len(self.attachments):
            self.data = self.reconstruct_binary(self.data, self.attachments)
            return True
        return False

    @classmethod
    def reconstruct_binary(cls, data, attachments):
        return reconstruct_binary(data, attachments)

    @classmethod
    def deconstruct_binary(cls, data):
        return deconstruct_binary(data)

    @classmethod
    def data_is_binary(cls, data):
        return has_binary(data)

    def _to_dict(self):
        d = {"type": self.packet_type, "data": self.data, "nsp": self.namespace}
        if self.id is not None:
            d["id"] = self.id
        return d
