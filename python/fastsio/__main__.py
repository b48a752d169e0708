"""Command line.

    python -m fastsio serve MODULE:APP [uvicorn options]
        Runs uvicorn (every option of its command line is accepted, e.g.
        --host, --port, --workers, --forwarded-allow-ips) with ``socketio``
        resolved to fastsio inside the app: an app written for python-socketio
        (Open WebUI, say) runs on fastsio unchanged. --no-swap serves it as is.
        Unless --ws is given, --ws fastsio.uvicorn:WebSocketProtocol: fastsio's
        websocket upgrades go to its native transport, every other websocket
        stays on uvicorn's own implementation.
    python -m fastsio serve-native MODULE:SIO [--host H] [--port P] [--path P]
                                   [--ssl-cert CERT] [--ssl-key KEY]
        Serves the fastsio AsyncServer SIO on a port of its own
        (sio.serve_native, fastsio/standalone.py): handshake, long-polling
        and websockets at --path (default /socket.io/), websockets on the
        native transport; TLS with --ssl-cert/--ssl-key.
    python -m fastsio demo [--host H] [--port P]
        The demo chat (in-memory, no Redis).
"""
import argparse
import os
import sys

from .standalone import NATIVE_WS


def _uvicorn():
    try:
        import uvicorn
    except ImportError:
        sys.exit("fastsio: uvicorn is required to serve; pip install 'fastsio[serve]'")
    return uvicorn


def serve(argv):
    uvicorn = _uvicorn()
    args = list(argv)
    swap = "--no-swap" not in args
    if not swap:
        args.remove("--no-swap")
    if not args or args[0].startswith("-"):
        sys.exit("usage: python -m fastsio serve MODULE:APP [uvicorn options]")
    if swap:
        os.environ["FASTSIO_SERVE_APP"] = args[0]
        args[0] = "fastsio.served:app"
    if not any(a == "--ws" or a.startswith("--ws=") for a in args):
        args += ["--ws", NATIVE_WS]
    # the served app's own directory, as `uvicorn app:app` run from it has
    sys.path.insert(0, os.getcwd())
    uvicorn.main.main(args=args, prog_name="python -m fastsio serve")


def demo(argv):
    parser = argparse.ArgumentParser(prog="python -m fastsio demo")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    _uvicorn().run("fastsio.demo:app", host=args.host, port=args.port,
                   log_level=args.log_level)


def serve_native(argv):
    parser = argparse.ArgumentParser(prog="python -m fastsio serve-native")
    parser.add_argument("server", metavar="MODULE:SIO",
                        help="a fastsio AsyncServer, e.g. myapp:sio")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--path", default="/socket.io/")
    parser.add_argument("--ssl-cert", default=None)
    parser.add_argument("--ssl-key", default=None)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    _uvicorn()
    import asyncio

    from uvicorn.importer import ImportFromStringError, import_from_string

    from .server import AsyncServer
    sys.path.insert(0, os.getcwd())
    try:
        sio = import_from_string(args.server)
    except ImportFromStringError as exc:
        sys.exit(f"fastsio serve-native: {exc}")
    if not isinstance(sio, AsyncServer):
        sys.exit(f"fastsio serve-native: {args.server} is a {type(sio).__name__}, "
                 "not a fastsio AsyncServer")
    try:
        asyncio.run(sio.serve_native(host=args.host, port=args.port, path=args.path,
                                     ssl_cert=args.ssl_cert, ssl_key=args.ssl_key,
                                     log_level=args.log_level))
    except (ValueError, FileNotFoundError) as exc:
        sys.exit(f"fastsio serve-native: {exc}")


COMMANDS = {"serve": serve, "serve-native": serve_native, "demo": demo}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    main()
