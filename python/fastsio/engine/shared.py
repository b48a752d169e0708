"""One shared object for equal request strings that many connections repeat.

A server holding thousands of idle connections keeps every one's request
(ASGI scope and environ) for as long as it lives, since handlers may read it.
Most of that request is the same from one connection to the next: header
names, the environ keys made from them, and values such as the Host, Origin,
User-Agent, Upgrade or Accept-Language of the same clients, and the peer
address. `SharedStrings` hands out one object per distinct value, so those
connections share it instead of holding a copy each.

Bounds: values longer than MAX_VALUE are not shared (returned as given);
a table holds at most MAX_ENTRIES values and is emptied when full (values
already handed out stay valid; only the sharing restarts). The table never
holds more than MAX_ENTRIES * MAX_VALUE bytes of values, whatever clients
send. Header values that differ per connection by design (see UNIQUE) are
not offered to the table, so they do not crowd out the rest.

Thread: the asyncio loop that serves the app (no lock).
"""

MAX_VALUE = 256
MAX_ENTRIES = 4096
# request headers whose value is meant to differ per connection
UNIQUE = frozenset((b"sec-websocket-key", b"cookie", b"authorization",
                    b"x-request-id", b"traceparent"))


class SharedStrings:
    """A bounded table of equal values (str or bytes) -> one object."""

    __slots__ = ("table",)

    def __init__(self):
        self.table = {}

    def __call__(self, value):
        if len(value) > MAX_VALUE:
            return value
        table = self.table
        shared = table.get(value)
        if shared is None:
            if len(table) >= MAX_ENTRIES:
                table.clear()
            table[value] = shared = value
        return shared


header_names = SharedStrings()     # lowercase header names (bytes)
header_values = SharedStrings()    # header values (bytes), not UNIQUE ones
environ_values = SharedStrings()   # environ values decoded from headers (str)
hosts = SharedStrings()            # peer and local addresses (str)


def header(name, value):
    """(name, value) of one request header, lowercase name, shared where the
    value is not one of UNIQUE."""
    name = header_names(name.lower())
    if name not in UNIQUE:
        value = header_values(value)
    return name, value


_environ_keys = {}


def environ_key(name):
    """The environ key of a header name (bytes, any case): "HTTP_" + its
    upper case with "-" as "_", decoded as latin-1; shared per name."""
    key = _environ_keys.get(name)
    if key is None:
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        if len(name) <= MAX_VALUE:
            if len(_environ_keys) >= MAX_ENTRIES:
                _environ_keys.clear()
            _environ_keys[name] = key
    return key


def address(addr):
    """(host, port) with the host shared, or addr as given (None, a path)."""
    if isinstance(addr, tuple) and len(addr) == 2 and isinstance(addr[0], str):
        return hosts(addr[0]), addr[1]
    return addr
