"""Shared fixtures: real uvicorn servers on loopback, one per implementation.

Every black-box test runs twice: against python-socketio's AsyncServer (the
reference) and against fastsio. The app modules under tests/apps/ pick the
implementation from the FASTSIO_TEST_IMPL environment variable.
"""
import contextlib
import signal
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPLS = ["python-socketio", "fastsio"]
# Where `import fastsio` comes from in server processes: python/ with the
# extension built in place, or a sanitizer build (tests/run_all.sh sets both).
PACKAGE_DIR = os.environ.get("FASTSIO_PACKAGE_DIR", os.path.join(ROOT, "python"))
SERVER_PRELOAD = os.environ.get("FASTSIO_SERVER_PRELOAD", "")
# uvicorn's websocket protocol for fastsio servers started with the default
# one: FASTSIO_TEST_WS=fastsio.uvicorn:WebSocketProtocol runs the suite with
# websockets adopted by the native transport (scripts/test.sh does a pass)
FASTSIO_WS = os.environ.get("FASTSIO_TEST_WS", "websockets")
NATIVE = FASTSIO_WS.startswith("fastsio.uvicorn")
# fastsio servers append their count of adopted websockets here at exit
# (fastsio.engine.native); a native pass that adopted none fails
NATIVE_REPORT = os.path.join(ROOT, "build", "test-logs", f"native-adoptions-{os.getpid()}.txt")
fastsio_servers_started = 0
# tests that use fastsio in-process (Redis dicts, write_only emitters) import
# it from the same place
sys.path.insert(0, PACKAGE_DIR)


def free_port():
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_text(log, path):
    """What a child process wrote so far to its log file (log: our open handle)."""
    if not log.closed:
        log.flush()
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


class ServerProcess:
    """A uvicorn process serving `module:attr`; stopped by stop()."""

    def __init__(self, impl, app, env=None, ws=None, serve_args=None, standalone=None,
                 python=None):
        """serve_args: run `python -m fastsio serve app <serve_args>` (the
        zero-edit swap) instead of uvicorn itself. standalone: run `python -m
        fastsio serve-native app <standalone>` (app: MODULE:SIO, a fastsio
        AsyncServer). ws: uvicorn's --ws (default: websockets, or
        FASTSIO_TEST_WS for fastsio). python: the interpreter (default this
        one), e.g. build/openwebui-venv's."""
        python = python or sys.executable
        if standalone is not None:
            ws = ""
        elif ws is None and not (serve_args is not None and impl == "fastsio"
                                 and "FASTSIO_TEST_WS" not in os.environ):
            # `python -m fastsio serve` picks fastsio's own class by default
            ws = FASTSIO_WS if impl == "fastsio" else "websockets"
        self.impl = impl
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = dict(os.environ)
        full_env["FASTSIO_TEST_IMPL"] = impl
        full_env["PYTHONPATH"] = os.pathsep.join(
            [ROOT, PACKAGE_DIR, full_env.get("PYTHONPATH", "")])
        if SERVER_PRELOAD and impl == "fastsio":
            full_env["LD_PRELOAD"] = SERVER_PRELOAD
        if impl == "fastsio":
            global fastsio_servers_started
            fastsio_servers_started += 1
            full_env["FASTSIO_NATIVE_REPORT"] = NATIVE_REPORT
        full_env.update(env or {})
        self.log_path = os.path.join(
            ROOT, "build", "test-logs", f"{impl}-{app.replace(':', '_')}-{self.port}.log")
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self.log = open(self.log_path, "wb")
        argv = [app, "--host", "127.0.0.1", "--port", str(self.port),
                *(("--ws", ws) if ws else ()), "--log-level", "warning"]
        if standalone is not None:
            argv = [python, "-m", "fastsio", "serve-native", *argv, *standalone]
        elif serve_args is None:
            argv = [python, "-m", "uvicorn", *argv]
        else:
            argv = [python, "-m", "fastsio", "serve", *argv, *serve_args]
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=full_env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start:\n{self.output()}")

    def output(self):
        return log_text(self.log, self.log_path)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                # uvicorn's graceful shutdown may wait for the reference
                # server's background tasks; nothing here needs it to finish
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(params=IMPLS)
def impl(request):
    return request.param


@pytest.fixture
def self_signed_cert(tmp_path):
    """(cert, key): PEM files of a one-day self-signed certificate for
    127.0.0.1, made with the openssl command (skips the test without it)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def start_server():
    """start_server(impl, "tests.apps.basic:app", env={...}) -> ServerProcess."""
    started = []

    def start(impl, app, env=None, **kw):
        s = ServerProcess(impl, app, env, **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


class RedisServer:
    """A redis-server process on a free loopback port, no persistence.
    stop() kills it (an outage), start() brings it back on the same port,
    pause()/resume() freeze it with SIGSTOP/SIGCONT (Redis alive, not answering)."""

    def __init__(self, extra_args=()):
        self.port = free_port()
        self.extra_args = list(extra_args)
        self.proc = None
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self):
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--loglevel", "warning", *self.extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited at start")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def client(self):
        """A plain redis-py client (the reference Open WebUI itself uses)."""
        import redis
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True)


@pytest.fixture
def redis_server():
    server = RedisServer()
    yield server
    if server.proc.poll() is None:
        server.resume()
    server.stop()


def native_adoptions():
    try:
        with open(NATIVE_REPORT) as f:
            return sum(int(line) for line in f if line.strip())
    except FileNotFoundError:
        return 0


def pytest_sessionstart(session):
    os.makedirs(os.path.dirname(NATIVE_REPORT), exist_ok=True)
    if os.path.exists(NATIVE_REPORT):
        os.remove(NATIVE_REPORT)


def pytest_terminal_summary(terminalreporter):
    if NATIVE:
        terminalreporter.write_line(
            f"native transport: {native_adoptions()} websockets adopted by fastsio servers")


def pytest_sessionfinish(session, exitstatus):
    if NATIVE and fastsio_servers_started and exitstatus == 0 and native_adoptions() == 0:
        # the suite ran with the adopting class but nothing was adopted
        session.exitstatus = 1
