"""Open one streamed chat completion through the gateway and record when each event arrived.

Usage: stream_client.py BASE_URL CA_FILE API_KEY MAX_TOKENS OUT_FILE
Writes a JSON object to OUT_FILE: status, events received, whether [DONE] arrived, the replica that
answered (X-Standin-Port) and the arrival times of the first and last events.
"""
import json
import ssl
import sys
import time
import urllib.request

base, ca, key, tokens, out = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=ca)
body = json.dumps({"model": "deepseek-tiny", "stream": True, "max_tokens": int(tokens),
                   "messages": [{"role": "user", "content": "Count slowly."}]}).encode()
req = urllib.request.Request(base + "/v1/chat/completions", data=body, method="POST",
                             headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
start = time.monotonic()
times, done, result = [], False, {}
try:
    with urllib.request.urlopen(req, context=ctx, timeout=120) as resp:
        result["status"] = resp.status
        result["replica"] = resp.headers.get("X-Standin-Port")
        for line in resp:
            if line.startswith(b"data: "):
                times.append(round(time.monotonic() - start, 3))
                if line.strip() == b"data: [DONE]":
                    done = True
except OSError as exc:
    result["error"] = str(exc)
result.update({"events": len(times), "done": done, "first_event_s": times[0] if times else None,
               "last_event_s": times[-1] if times else None})
with open(out, "w") as f:
    json.dump(result, f)
print(json.dumps(result))
