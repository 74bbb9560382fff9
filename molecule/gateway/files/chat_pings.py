"""Send small chat completions one after the other, each on its own connection, and print what answered.

Usage: chat_pings.py URL COUNT [CA_FILE|-] [KEY|-]
URL is the base of the gateway (https://...) or of a replica (http://...). Prints one JSON object: the status of
each request and the replica that answered it (X-Standin-Port), in order. One task for many requests: a loop of
uri tasks takes seconds per request on a loaded machine. Standard library only.
"""
import http.client
import json
import ssl
import sys
import urllib.parse

url, count = sys.argv[1], int(sys.argv[2])
ca = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] != "-" else None
key = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] != "-" else ""
u = urllib.parse.urlsplit(url)
statuses, replicas = [], []
for i in range(count):
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=30,
                                           context=ssl.create_default_context(cafile=ca))
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=30)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    body = json.dumps({"model": "deepseek-tiny", "max_tokens": 2, "messages": [{"role": "user", "content": "ping %d" % i}]})
    conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
    resp = conn.getresponse()
    resp.read()
    statuses.append(resp.status)
    replicas.append(resp.getheader("X-Standin-Port"))
    conn.close()
print(json.dumps({"statuses": statuses, "replicas": replicas}))
