"""Static file mapping for ASGIApp(static_files=...), python-socketio's format.

static_files maps a URL path (or prefix) to a filename or to a dict with
'filename' and optional 'content_type'; a prefix mapped to a folder serves
the files below it, and a path ending in '/' gets the '' entry (or
index.html) appended.
"""

CONTENT_TYPES = {
    "css": "text/css", "gif": "image/gif", "html": "text/html", "jpg": "image/jpeg",
    "js": "application/javascript", "json": "application/json", "png": "image/png",
    "txt": "text/plain",
}


def _as_entry(value):
    return {"filename": value} if isinstance(value, str) else dict(value)


def get_static_file(path, static_files):
    """{'filename', 'content_type'} for a URL path, or None."""
    rest = ""
    entry = static_files.get(path)
    prefix = path
    while entry is None and prefix:
        prefix, last = prefix.rsplit("/", 1)
        rest = "/" + last + rest
        entry = static_files.get(prefix, static_files.get(prefix + "/"))
    if entry is None or "../" in rest:
        return None
    f = _as_entry(entry)
    if f["filename"].endswith("/") and rest.startswith("/"):
        rest = rest[1:]
    f["filename"] += rest
    if f["filename"].endswith("/"):
        if "" in static_files:
            index = _as_entry(static_files[""])
            f["filename"] += index["filename"]
            if "content_type" in index:
                f["content_type"] = index["content_type"]
        else:
            f["filename"] += "index.html"
    if "content_type" not in f:
        ext = f["filename"].rsplit(".")[-1]
        f["content_type"] = CONTENT_TYPES.get(ext, "application/octet-stream")
    return f
