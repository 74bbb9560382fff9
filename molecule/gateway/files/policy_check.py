"""Send the API policy cases (routes, methods, fields, caps per RBAC role) through the gateway.

Usage: policy_check.py BASE_URL CA_FILE KEYS CASES.jsonl COUNT_URL[,COUNT_URL...]
KEYS is a JSON object that maps a case's "key" (a name) to an API key. A case: name, key, key_header
(Authorization, the default, or X-API-Key), method, path, optional headers, json (or body), pad_content (the
first message's content becomes that many characters), expect (status), reaches (whether the request must reach
a replica), optional error_type (the "type" of the gateway's error object: tells a refusal of the API checks from
one of the WAF) and replica_max_tokens / replica_n / replica_x_api_key (what the replica must have received).
Prints one JSON object: the cases that passed and the failures with what was seen. Standard library only.
"""
import http.client
import json
import ssl
import sys
import urllib.parse
import urllib.request

base, ca, keys, cases_file, counters = sys.argv[1:6]
u = urllib.parse.urlsplit(base)
ctx = ssl.create_default_context(cafile=ca)
KEYS = json.loads(keys)


def replicas():
    out = {}
    for url in counters.split(","):
        with urllib.request.urlopen(url, timeout=5) as r:
            state = json.load(r)
        out[state["port"]] = state
    return out


def send(case):
    conn = http.client.HTTPSConnection(u.hostname, u.port or 443, context=ctx, timeout=30)
    if case.get("key_header") == "X-API-Key":
        headers = {"X-API-Key": KEYS[case["key"]]}
    else:
        headers = {"Authorization": "Bearer " + KEYS[case["key"]]}
    body = None
    if "json" in case:
        doc = json.loads(json.dumps(case["json"]))
        if "pad_content" in case:
            doc["messages"][0]["content"] = "x" * case["pad_content"]
        body = json.dumps(doc).encode()
        headers["Content-Type"] = "application/json"
    elif "body" in case:
        body = case["body"].encode()
    headers.update(case.get("headers", {}))
    conn.request(case["method"], case["path"], body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    try:
        error_type = json.loads(data)["error"]["type"]
    except (ValueError, KeyError, TypeError):
        error_type = None
    return resp.status, error_type, resp.getheader("X-Standin-Port")


passed, failures = [], []
for line in open(cases_file):
    if not line.strip():
        continue
    case = json.loads(line)
    before = replicas()
    status, error_type, port = send(case)
    after = replicas()
    reached = sum(s["total"] for s in after.values()) - sum(s["total"] for s in before.values())
    seen = {"status": status, "reached": reached, "error_type": error_type}
    ok = status == case["expect"] and (reached > 0) == case["reaches"]
    if "error_type" in case:
        ok = ok and error_type == case["error_type"]
    for field in ("max_tokens", "n", "x_api_key"):
        if "replica_" + field in case:
            last = after[int(port)]["last"] if port else {}
            seen["replica_" + field] = last.get(field)
            ok = ok and last.get(field) == case["replica_" + field]
    if ok:
        passed.append(case["name"])
    else:
        failures.append({"name": case["name"], "expected": {k: case[k] for k in case if k in (
            "expect", "reaches", "error_type", "replica_max_tokens", "replica_n", "replica_x_api_key")}, "seen": seen})
print(json.dumps({"sent": len(passed) + len(failures), "passed": len(passed), "failures": failures,
                  "names": passed}))
