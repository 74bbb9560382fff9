"""Stand-in for a serving replica: a tiny OpenAI-compatible server (python3 standard library only).

POST /v1/chat/completions and /v1/completions answer after STANDIN_DELAY seconds (a small completion);
with "stream": true they send max_tokens server-sent events (at most 256), STANDIN_STREAM_DELAY seconds apart.
GET /v1/models lists one model. As vLLM with --api-key, every /v1/* path requires
"Authorization: Bearer $STANDIN_API_KEY" (401 otherwise) when STANDIN_API_KEY is set, and the paths outside
/v1 (/tokenize, /detokenize, /metrics, /health) answer without a key; /v1/load_lora_adapter answers too, so
that a request reaching any of them would show. GET /_count (not proxied by the gateway) returns the /v1
requests served ("requests"), every request received ("total"), those refused for want of the key
("unauthorized"), the streams in progress, and the fields of the last /v1 request ("last": its path, its
JSON field names, its max_tokens and n, whether it carried an X-API-Key header). Usage: standin_upstream.py PORT
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
DELAY = float(os.environ.get("STANDIN_DELAY", "0.05"))
STREAM_DELAY = float(os.environ.get("STANDIN_STREAM_DELAY", "0.4"))
API_KEY = os.environ.get("STANDIN_API_KEY", "")
LOCK = threading.Lock()
STATE = {"requests": 0, "total": 0, "unauthorized": 0, "active_streams": 0, "port": PORT, "last": {}}
OUTSIDE_V1 = ("/tokenize", "/detokenize", "/metrics", "/health", "/version", "/pooling", "/score")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without TCP_NODELAY, Nagle's algorithm and the peer's delayed ACK
    # hold the body for ~40 ms on a keep-alive connection.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def _json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Standin-Port", str(PORT))
        self.end_headers()
        self.wfile.write(data)

    def _admit(self, req):
        """Count the request; False (after answering 401) when a /v1 path lacks the key."""
        path = self.path.split("?", 1)[0]
        with LOCK:
            STATE["total"] += 1
        if path.startswith("/v1") and API_KEY and self.headers.get("Authorization") != "Bearer " + API_KEY:
            with LOCK:
                STATE["unauthorized"] += 1
            self._json(401, {"error": "Unauthorized"})
            return False
        if path.startswith("/v1"):
            with LOCK:
                STATE["requests"] += 1
                STATE["last"] = {"path": self.path, "fields": sorted(req) if isinstance(req, dict) else None,
                                 "max_tokens": req.get("max_tokens") if isinstance(req, dict) else None,
                                 "n": req.get("n") if isinstance(req, dict) else None,
                                 "x_api_key": "X-API-Key" in self.headers}
        return True

    def do_GET(self):
        if self.path == "/_count":
            with LOCK:
                self._json(200, dict(STATE))
            return
        if not self._admit({}):
            return
        if self.path.startswith("/v1/models"):
            self._json(200, {"object": "list", "data": [{"id": "deepseek-tiny", "object": "model"}]})
        elif self.path.startswith(OUTSIDE_V1):
            self._json(200, {"served": self.path})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            req = None
        if not self._admit(req):
            return
        path = self.path.split("?", 1)[0]
        if path.startswith(OUTSIDE_V1) or path == "/v1/load_lora_adapter":
            self._json(200, {"served": path})
            return
        if path not in ("/v1/chat/completions", "/v1/completions"):
            self._json(404, {"error": "not found"})
            return
        if not isinstance(req, dict):
            self._json(400, {"error": "bad json"})
            return
        tokens = max(1, min(int(req.get("max_tokens") or 8), 256))
        chat = path == "/v1/chat/completions"
        if req.get("stream"):
            self._stream(tokens, chat)
            return
        time.sleep(DELAY)
        text = " ".join("tok%d" % i for i in range(tokens))
        choice = {"index": 0, "finish_reason": "length"}
        choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
        self._json(200, {"id": "cmpl-%d" % PORT, "object": "chat.completion" if chat else "text_completion",
                         "model": req.get("model"), "choices": [choice],
                         "usage": {"prompt_tokens": 1, "completion_tokens": tokens, "total_tokens": tokens + 1}})

    def _stream(self, tokens, chat):
        with LOCK:
            STATE["active_streams"] += 1
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.send_header("X-Standin-Port", str(PORT))
            self.end_headers()
            for i in range(tokens):
                delta = {"delta": {"content": "tok%d " % i}} if chat else {"text": "tok%d " % i}
                delta["index"] = 0
                event = {"id": "cmpl-%d" % PORT, "object": "chat.completion.chunk", "choices": [delta]}
                self.wfile.write(("data: %s\n\n" % json.dumps(event)).encode())
                self.wfile.flush()
                time.sleep(STREAM_DELAY)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True
        except OSError:
            # The client (the gateway) went away: the stream ends here.
            self.close_connection = True
        finally:
            with LOCK:
                STATE["active_streams"] -= 1


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
