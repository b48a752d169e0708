"""A tiny OpenAI-compatible server on loopback, for Open WebUI's tests.

    python fake_openai.py --port P [--tokens 500] [--rate 0]

Pure asyncio, no dependency. Serves:
- GET  /v1/models: one model, MODEL_ID.
- POST /v1/chat/completions: with "stream": true, `chat.completion.chunk`
  server-sent events, one per token (token i is token_text(i)), then a chunk
  with finish_reason "stop" and `data: [DONE]`; otherwise one
  `chat.completion` with the whole text.
The number of tokens and the rate (tokens per second, 0 = as fast as the
socket takes them) are the command line's, or the last user message's when it
contains `tokens=N` / `rate=R`. Prints "ready <port>" on stdout once listening.
"""
import argparse
import asyncio
import json
import re
import sys
import time

MODEL_ID = "fake-model"
# a mix of ASCII, accents, CJK, emoji, quotes and a newline now and then, so
# that the text survives every JSON encoder on its way intact or not at all
_WORDS = ["Hello", " wörld", ",", " ☃", " 中文", " \"quoted\"", " 😀", " back\\slash",
          " tab\tx", "\n", " lorem", " ipsum"]


def token_text(i):
    return f"{_WORDS[i % len(_WORDS)]}{i}"


def expected_text(n):
    return "".join(token_text(i) for i in range(n))


def _chunk(cid, created, delta, finish=None):
    return {"id": cid, "object": "chat.completion.chunk", "created": created,
            "model": MODEL_ID, "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None,
                         "finish_reason": finish}]}


def _last_user_text(body):
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


class Server:
    def __init__(self, tokens, rate):
        self.tokens = tokens
        self.rate = rate
        self.requests = 0

    async def handle(self, reader, writer):
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    break
                method, path, body = request
                keep = await self._respond(writer, method, path, body)
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _read_request(self, reader):
        line = await reader.readline()
        if not line:
            return None
        method, path, _ = line.decode("latin-1").split(" ", 2)
        length = 0
        while True:
            header = await reader.readline()
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        body = await reader.readexactly(length) if length else b""
        return method, path.split("?", 1)[0], body

    @staticmethod
    def _head(status, ctype, length=None):
        head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
        if length is None:
            head += "Cache-Control: no-cache\r\nConnection: close\r\n"
        else:
            head += f"Content-Length: {length}\r\n"
        return (head + "\r\n").encode()

    async def _json(self, writer, status, obj):
        data = json.dumps(obj).encode()
        writer.write(self._head(status, "application/json", len(data)) + data)
        await writer.drain()
        return True

    async def _respond(self, writer, method, path, body):
        path = path.rstrip("/")
        if method == "GET" and path.endswith("/models"):
            return await self._json(writer, "200 OK", {"object": "list", "data": [
                {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "fastsio-tests"}]})
        if method == "POST" and path.endswith("/chat/completions"):
            self.requests += 1
            req = json.loads(body or b"{}")
            prompt = _last_user_text(req)
            n = int(m.group(1)) if (m := re.search(r"tokens=(\d+)", prompt)) else self.tokens
            rate = float(m.group(1)) if (m := re.search(r"rate=([\d.]+)", prompt)) else self.rate
            cid = f"chatcmpl-fake{self.requests}"
            created = int(time.time())
            if not req.get("stream"):
                return await self._json(writer, "200 OK", {
                    "id": cid, "object": "chat.completion", "created": created, "model": MODEL_ID,
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {
                        "role": "assistant", "content": expected_text(n)}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": n, "total_tokens": n + 1}})
            writer.write(self._head("200 OK", "text/event-stream"))
            send = lambda obj: writer.write(f"data: {json.dumps(obj)}\n\n".encode())  # noqa: E731
            send(_chunk(cid, created, {"role": "assistant", "content": ""}))
            start = time.monotonic()
            for i in range(n):
                send(_chunk(cid, created, {"content": token_text(i)}))
                if rate > 0:
                    delay = start + (i + 1) / rate - time.monotonic()
                    await writer.drain()
                    if delay > 0:
                        await asyncio.sleep(delay)
                elif i % 50 == 49:
                    await writer.drain()
            send(_chunk(cid, created, {}, "stop"))
            writer.write(b"data: [DONE]\n\n")
            await writer.drain()
            return False
        return await self._json(writer, "404 Not Found", {"error": {"message": f"no {path}"}})


async def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--rate", type=float, default=0.0)
    args = parser.parse_args(argv)
    server = Server(args.tokens, args.rate)
    listener = await asyncio.start_server(server.handle, args.host, args.port)
    port = listener.sockets[0].getsockname()[1]
    print(f"ready {port}", flush=True)
    async with listener:
        await listener.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
