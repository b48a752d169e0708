"""Command line: ``python -m fastsio serve module:app`` or ``python -m fastsio demo``."""
import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastsio")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve an ASGI app (module:attribute) with uvicorn")
    serve.add_argument("app", help="import path of the ASGI app, e.g. main:app")
    demo = sub.add_parser("demo", help="serve the demo chat (in-memory, no Redis)")
    for p in (serve, demo):
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        p.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    try:
        import uvicorn
    except ImportError:
        sys.exit("fastsio: uvicorn is required to serve; pip install 'fastsio[serve]'")
    app = args.app if args.command == "serve" else "fastsio.demo:app"
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
