"""Command line.

    python -m fastsio serve MODULE:APP [uvicorn options]
        Runs uvicorn (every option of its command line is accepted, e.g.
        --host, --port, --workers, --forwarded-allow-ips) with ``socketio``
        resolved to fastsio inside the app: an app written for python-socketio
        (Open WebUI, say) runs on fastsio unchanged. --no-swap serves it as is.
        Unless --ws is given, --ws fastsio.uvicorn:WebSocketProtocol: fastsio's
        websocket upgrades go to its native transport, every other websocket
        stays on uvicorn's own implementation.
    python -m fastsio demo [--host H] [--port P]
        The demo chat (in-memory, no Redis).
"""
import argparse
import os
import sys

NATIVE_WS = "fastsio.uvicorn:WebSocketProtocol"


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


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in ("serve", "demo"):
        sys.exit(__doc__)
    (serve if argv[0] == "serve" else demo)(argv[1:])


if __name__ == "__main__":
    main()
