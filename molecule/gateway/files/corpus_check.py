"""Send the attack and legitimate corpora through the gateway and count what reached the replicas.

Usage: corpus_check.py BASE_URL CA_FILE API_KEY ATTACKS.jsonl LEGIT.jsonl COUNT_URL[,COUNT_URL...]
A case may name its own expected status ("expect", with "why"): an attack that nginx itself refuses
before any module runs gets 400, not ModSecurity's 403. Prints one JSON object: per corpus the number sent,
the status codes, the requests that reached the replicas (every request they received, from their /_count
"total" before and after), the failures by name, and the counts by request part ("where"). Standard library only.
"""
import http.client
import json
import ssl
import sys
import time
import urllib.parse
import urllib.request

base, ca, key, attacks_file, legit_file, counters = sys.argv[1:7]
u = urllib.parse.urlsplit(base)
ctx = ssl.create_default_context(cafile=ca)
PACE = 0.06  # stay under the scenario's per-key rate limit


def count():
    total = 0
    for url in counters.split(","):
        with urllib.request.urlopen(url, timeout=5) as r:
            total += json.load(r)["total"]
    return total


def send(case):
    conn = http.client.HTTPSConnection(u.hostname, u.port or 443, context=ctx, timeout=30)
    headers = {"Authorization": "Bearer " + key, "User-Agent": "corpus-check/1.0", "Accept": "*/*"}
    body = None
    if "json" in case:
        body = json.dumps(case["json"]).encode()
        headers["Content-Type"] = "application/json"
    elif "body" in case:
        body = case["body"].encode()
    headers.update(case.get("headers", {}))
    conn.putrequest(case["method"], case["path"], skip_accept_encoding=True)
    for k, v in headers.items():
        conn.putheader(k, v)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status


def run(path, expect):
    cases = [json.loads(line) for line in open(path) if line.strip()]
    before = count()
    statuses, failures, parts = {}, [], {}
    start = time.monotonic()
    for case in cases:
        try:
            status = send(case)
        except (OSError, http.client.HTTPException) as exc:
            status = "error: %s" % exc
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        part = parts.setdefault(case.get("where", case.get("category", "-")), [0, 0])
        part[0] += 1
        if status != case.get("expect", expect):
            failures.append("%s -> %s" % (case["name"], status))
        else:
            part[1] += 1
        time.sleep(PACE)
    time.sleep(0.5)
    return {"sent": len(cases), "statuses": statuses, "expected": expect,
            "as_expected": len(cases) - len(failures), "reached_upstream": count() - before,
            "failures": failures, "seconds": round(time.monotonic() - start, 1),
            "parts": dict((k, "%d/%d" % (v[1], v[0])) for k, v in sorted(parts.items()))}


result = {"attacks": run(attacks_file, 403), "legit": run(legit_file, 200)}
result["attack_block_rate"] = round(100.0 * result["attacks"]["as_expected"] / result["attacks"]["sent"], 1)
result["legit_pass_rate"] = round(100.0 * result["legit"]["as_expected"] / result["legit"]["sent"], 1)
result["legit_false_positive_rate"] = round(100.0 - result["legit_pass_rate"], 1)
print(json.dumps(result))
