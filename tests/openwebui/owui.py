"""Helpers for the end-to-end tests against the real Open WebUI (PyPI wheel,
unchanged) in build/openwebui-venv (scripts/openwebui_env.sh makes it).

- FakeOpenAI: tests/openwebui/fake_openai.py in its own process.
- OpenWebUI: one Open WebUI server process, either under
  `python -m fastsio serve open_webui.main:app` (fastsio) or plain
  `python -m uvicorn open_webui.main:app` (python-socketio, unpatched), with
  the settings that let it start without its ML stack.
- signup / signin / create_channel over its HTTP API (stdlib only).
- run_client: tests/openwebui/client.mjs under node, bounded in time.
"""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tests.conftest import ROOT, free_port, log_text

OPENWEBUI_VERSION = "0.12.4"
HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, "build", "openwebui-venv")
VENV_PYTHON = os.path.join(VENV, "bin", "python")
CLIENT = os.path.join(HERE, "client.mjs")
SOCKET_IO_CLIENT = os.path.join(ROOT, "tests", "js", "node_modules", "socket.io-client",
                                "package.json")
START_TIMEOUT = 120     # seconds; Open WebUI takes 10-30 s (migrations on a new database)
STOP_TIMEOUT = 10


def venv_problem():
    """Why the Open WebUI tests cannot run here, or None."""
    if not glob.glob(os.path.join(VENV, f".fastsio-openwebui-{OPENWEBUI_VERSION}-py*")):
        return (f"no Open WebUI {OPENWEBUI_VERSION} virtualenv at {VENV}: "
                "run `bash scripts/openwebui_env.sh` (scripts/test.sh does)")
    if not shutil.which("node"):
        return "node is not on PATH (scripts/test.sh installs it)"
    if not os.path.isfile(SOCKET_IO_CLIENT):
        return "socket.io-client is not installed: npm install --prefix tests/js"
    return None


def site_packages():
    out = subprocess.run([VENV_PYTHON, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True, timeout=30)
    return out.stdout.strip()


def _clean_env():
    """The test run's environment without what points Python or the loader
    elsewhere (PYTHONPATH, a sanitizer preload, another virtualenv)."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "LD_PRELOAD", "VIRTUAL_ENV", "PYTHONHOME")
            and not k.startswith("FASTSIO_")}


def app_env(data_dir, openai_url="http://127.0.0.1:9/v1",
            secret="fastsio-openwebui-tests-secret-0123456789"):
    """The environment Open WebUI starts (or is imported) with here: no ML
    stack, no downloads, its data in data_dir."""
    site = site_packages()
    env = _clean_env()
    env.update({
        # no ML stack: slim mode (pgvector as the default vector DB, never
        # imported), no model downloads, no embeddings
        "USE_SLIM_DOCKER": "true", "OFFLINE_MODE": "true", "HF_HUB_OFFLINE": "1",
        "BYPASS_EMBEDDING_AND_RETRIEVAL": "true", "RAG_EMBEDDING_ENGINE": "openai",
        "RAG_EMBEDDING_MODEL_AUTO_UPDATE": "false", "RAG_RERANKING_MODEL_AUTO_UPDATE": "false",
        "ENABLE_OLLAMA_API": "false", "ENABLE_OPENAI_API": "true",
        "OPENAI_API_BASE_URL": openai_url, "OPENAI_API_KEY": "sk-x",
        "DATA_DIR": data_dir, "WEBUI_SECRET_KEY": secret,
        "ENABLE_VERSION_UPDATE_CHECK": "false",
        "ENABLE_TITLE_GENERATION": "false", "ENABLE_FOLLOW_UP_GENERATION": "false",
        "ENABLE_TAGS_GENERATION": "false", "ENABLE_AUTOCOMPLETE_GENERATION": "false",
        "ENABLE_CHANNELS": "true",
        "FRONTEND_BUILD_DIR": os.path.join(site, "open_webui", "frontend"),
        "GLOBAL_LOG_LEVEL": "INFO",
    })
    return env


def _log_dir():
    path = os.path.join(ROOT, "build", "test-logs")
    os.makedirs(path, exist_ok=True)
    return path


class _Process:
    """A child process in its own process group, logged to build/test-logs."""

    def __init__(self, argv, env, name, cwd=None):
        self.log_path = os.path.join(_log_dir(), name)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def output(self):
        return log_text(self.log, self.log_path)

    def stop(self):
        """SIGTERM to the group it leads, SIGKILL after STOP_TIMEOUT."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_TIMEOUT)
        # anything it left in its group (none expected)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if not self.log.closed:
            self.log.close()


class FakeOpenAI(_Process):
    """The fake OpenAI-compatible server: `url` is its /v1 base."""

    def __init__(self, tokens=500, rate=0.0):
        self.port = free_port()
        super().__init__([sys.executable, os.path.join(HERE, "fake_openai.py"),
                          "--port", str(self.port), "--tokens", str(tokens), "--rate", str(rate)],
                         _clean_env(), f"fake-openai-{self.port}.log")
        self.url = f"http://127.0.0.1:{self.port}/v1"
        deadline = time.monotonic() + 15
        while "ready" not in self.output():
            if not self.alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"fake OpenAI server did not start:\n{self.output()}")
            time.sleep(0.05)


class OpenWebUI(_Process):
    """Open WebUI on 127.0.0.1:<free port>.

    served=True: `python -m fastsio serve open_webui.main:app` (socketio is
    fastsio inside it); served=False: `python -m uvicorn open_webui.main:app`
    (python-socketio 5.16.2, as Open WebUI ships). redis_url: WEBSOCKET_MANAGER
    =redis with that Redis for the websocket manager and the app; otherwise
    the in-memory manager. Waits (bounded) until /api/config answers.
    """

    def __init__(self, *, served, data_dir, openai_url, redis_url=None, room_channels=True,
                 secret="fastsio-openwebui-tests-secret-0123456789", extra_env=None):
        self.served = served
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = app_env(data_dir, openai_url, secret)
        if redis_url:
            env.update({"WEBSOCKET_MANAGER": "redis", "WEBSOCKET_REDIS_URL": redis_url,
                        "REDIS_URL": redis_url,
                        "WEBSOCKET_REDIS_ROOM_CHANNELS": "true" if room_channels else "false"})
        env.update(extra_env or {})
        app_args = ["open_webui.main:app", "--host", "127.0.0.1", "--port", str(self.port)]
        if served:
            argv = [VENV_PYTHON, "-m", "fastsio", "serve", *app_args]
        else:
            argv = [VENV_PYTHON, "-m", "uvicorn", *app_args]
        kind = "fastsio" if served else "uvicorn"
        mode = ("redis-rooms" if room_channels else "redis") if redis_url else "memory"
        # cwd: somewhere neutral, so nothing of this checkout is importable by
        # accident (fastsio comes from the venv's .pth file)
        super().__init__(argv, env, f"openwebui-{kind}-{mode}-{self.port}.log", cwd=data_dir)
        started = time.monotonic()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - started

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"Open WebUI exited early ({self.proc.returncode}):\n"
                                   f"{self.output()[-6000:]}")
            try:
                with urllib.request.urlopen(self.url + "/api/config", timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"Open WebUI did not answer /api/config within {START_TIMEOUT} s:\n"
                           f"{self.output()[-6000:]}")

    def mapped_files(self):
        """The files mapped into the server process (its /proc/<pid>/maps)."""
        with open(f"/proc/{self.pid}/maps") as f:
            return {line.split(None, 5)[5].strip() for line in f if len(line.split(None, 5)) == 6}

    def uses_fastsio_core(self):
        return any(os.path.basename(p).startswith("_core.") and
                   os.path.basename(os.path.dirname(p)) == "fastsio" for p in self.mapped_files())

    # ---------------------------------------------------------------- HTTP

    def request(self, method, path, body=None, token=None, timeout=20, allow_404=False):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("content-type", "application/json")
        if token:
            req.add_header("authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as exc:
            if allow_404 and exc.code in (401, 404):
                return None
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read()[:2000]!r}") from None

    def signup(self, name, email, password):
        """POST /api/v1/auths/signup: the first user is the admin. -> response (token, id)."""
        return self.request("POST", "/api/v1/auths/signup",
                            {"name": name, "email": email, "password": password})

    def signin(self, email, password):
        return self.request("POST", "/api/v1/auths/signin", {"email": email, "password": password})

    def create_channel(self, token, name):
        return self.request("POST", "/api/v1/channels/create", {"name": name}, token=token)

    def problems(self):
        """Lines of its log that say something went wrong (tracebacks, errors,
        fastsio's 'left unpatched' warning)."""
        bad = []
        for line in self.output().splitlines():
            if ("Traceback" in line or "| ERROR" in line or line.startswith("ERROR")
                    or "left unpatched" in line or "Exception in" in line):
                bad.append(line)
        return bad


class ClientFailed(RuntimeError):
    """client.mjs failed (not an AssertionError: an xfail on an assertion
    must not swallow a broken run)."""


def run_client(config, timeout=120, servers=()):
    """Runs client.mjs with `config`; returns its JSON result. Raises
    ClientFailed with its stderr (and the tails of `servers`' logs) when it
    fails or outlives `timeout`."""
    config = dict(config)
    config.setdefault("limitMs", int((timeout - 10) * 1000))
    cmd = [shutil.which("node"), CLIENT, json.dumps(config)]
    logs = lambda: "".join(f"\n--- {s.log_path}:\n{s.output()[-4000:]}" for s in servers)  # noqa: E731
    try:
        proc = subprocess.run(cmd, cwd=HERE, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ClientFailed(f"client.mjs did not exit within {timeout} s\nstderr:\n{exc.stderr}"
                           + logs()) from None
    if proc.returncode != 0 or not proc.stdout.strip():
        raise ClientFailed(f"client.mjs exited with {proc.returncode}\nstderr:\n{proc.stderr[-6000:]}"
                           f"\nstdout:\n{proc.stdout[-2000:]}" + logs())
    return json.loads(proc.stdout.strip().splitlines()[-1])
