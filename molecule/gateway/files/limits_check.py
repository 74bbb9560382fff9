"""The gateway's limits seen from a client: key guessing from one address, and requests in flight per key.

Usage: limits_check.py guess BASE_URL CA_FILE VALID_KEY TRIES
    TRIES requests with random keys (never valid) on one keep-alive connection, as fast as they come, then one
    with VALID_KEY from the same address. Prints the statuses in order, their counts, the time taken and the
    valid key's status.
Usage: limits_check.py connections BASE_URL CA_FILE KEY OTHER_KEY STREAMS COUNT_URL[,COUNT_URL...]
    Opens STREAMS streamed completions with KEY and keeps them open, waits until the replicas serve them all,
    then sends one more request with KEY and one with OTHER_KEY; closes the streams, waits until the replicas
    serve none, and sends one with KEY again. Prints the statuses. Standard library only.
"""
import http.client
import json
import secrets
import ssl
import sys
import time
import urllib.parse
import urllib.request


def connect(base, ca):
    u = urllib.parse.urlsplit(base)
    return http.client.HTTPSConnection(u.hostname, u.port or 443, context=ssl.create_default_context(cafile=ca),
                                       timeout=30)


def chat(conn, key, stream=False, tokens=2):
    body = json.dumps({"model": "deepseek-tiny", "stream": stream, "max_tokens": tokens,
                       "messages": [{"role": "user", "content": "Count slowly."}]})
    conn.request("POST", "/v1/chat/completions", body=body,
                 headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    resp = conn.getresponse()
    if not stream or resp.status != 200:
        resp.read()
    return resp


def guess(base, ca, valid_key, tries):
    conn = connect(base, ca)
    statuses = []
    start = time.monotonic()
    for _i in range(int(tries)):
        statuses.append(chat(conn, "sk-guess-" + secrets.token_hex(20)).status)
    elapsed = time.monotonic() - start
    valid = chat(conn, valid_key).status
    conn.close()
    run, longest = 0, 0
    for s in statuses:
        run = run + 1 if s == 401 else 0
        longest = max(longest, run)
    print(json.dumps({"statuses": statuses, "counts": {str(s): statuses.count(s) for s in set(statuses)},
                      "first_429": statuses.index(429) if 429 in statuses else None, "longest_401_run": longest,
                      "seconds": round(elapsed, 2), "valid_key_after": valid}))


def active(counters):
    total = 0
    for url in counters.split(","):
        with urllib.request.urlopen(url, timeout=5) as r:
            total += json.load(r)["active_streams"]
    return total


def wait_active(counters, want, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if active(counters) == want:
            return True
        time.sleep(0.2)
    return False


def connections(base, ca, key, other_key, streams, counters):
    held, opened = [], []
    for _i in range(int(streams)):
        conn = connect(base, ca)
        resp = chat(conn, key, stream=True, tokens=100)
        opened.append(resp.status)
        held.append((conn, resp))
    all_served = wait_active(counters, int(streams))
    extra = chat(connect(base, ca), key).status
    other = chat(connect(base, ca), other_key).status
    for conn, _resp in held:
        conn.sock.close()
        conn.close()
    drained = wait_active(counters, 0)
    # nginx frees the key's slots once it notices the closed clients (its next write to them).
    time.sleep(1)
    after = chat(connect(base, ca), key).status
    print(json.dumps({"opened": opened, "all_served": all_served, "extra_same_key": extra,
                      "other_key": other, "streams_ended": drained, "same_key_after": after}))


if sys.argv[1] == "guess":
    guess(*sys.argv[2:6])
else:
    connections(*sys.argv[2:8])
