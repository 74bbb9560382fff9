# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Rolling upgrades of the serving layer under continuous load through the gateway.

While --clients threads send chat completions through the gateway without pause, the serving layer is
upgraded with `ansible-playbook site.yml --tags serving -e model_serving_model_revision=REV` three times:
  1. to a good new revision (a copy of the served one with its own generation defaults and manifest);
  2. to a revision with a file that fails its sha256 manifest (must be refused before any switch);
  3. to a revision whose config.json the engine cannot load (must fail the readiness gate and roll back).
The revisions are written into the controller's model folder (the one the sandbox publishes from) as
<base>-bench-good, <base>-bench-badsum and <base>-bench-badconfig. After each upgrade the revision every
replica serves is read back (the `current` link) and its engine's health is checked. A broken revision
counts as rolled back when the play failed and every replica still serves the good revision, healthy.
At the end the inventory's revision is rolled out again (not counted), unless --no-restore.
Prints per step the play's exit status, the served revisions and the load's counts (failed, and retried: requests
sent again on a new connection after the gateway closed their idle keep-alive connection, see Load); last line:
    rolling_upgrade requests=N failed=F throttled=T rolled_back=R
The sandbox (inventories/prod with the sandbox overlay, the default; Ansible from the project's .venv):
    python3 bench/rolling_upgrade.py --gateway https://127.0.0.1:8443 \
        --ca .sandbox/ca.pem --key-file .sandbox/api-key --models-dir .testbed/models
"""
import argparse
import hashlib
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

MANIFEST = "SHA256SUMS"


def write_manifest(folder):
    lines = []
    for name in sorted(os.listdir(folder)):
        if name == MANIFEST:
            continue
        digest = hashlib.sha256()
        with open(os.path.join(folder, name), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        lines.append("%s  %s\n" % (digest.hexdigest(), name))
    with open(os.path.join(folder, MANIFEST), "w") as f:
        f.writelines(lines)


def make_revisions(models_dir, model, base):
    src = os.path.join(models_dir, model, base)
    if not os.path.isfile(os.path.join(src, MANIFEST)):
        sys.exit("no revision %s with a %s in %s" % (base, MANIFEST, os.path.join(models_dir, model)))
    revs = {}
    for kind in ("good", "badsum", "badconfig"):
        name = "%s-bench-%s" % (base, kind)
        dst = os.path.join(models_dir, model, name)
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
        gen = os.path.join(dst, "generation_config.json")
        with open(gen) as f:
            cfg = json.load(f)
        cfg["temperature"] = 0.7  # a real difference between the revisions
        with open(gen, "w") as f:
            json.dump(cfg, f, indent=2)
        if kind == "badconfig":
            with open(os.path.join(dst, "config.json")) as f:
                cfg = json.load(f)
            cfg["architectures"] = ["NoSuchArchitectureForCausalLM"]
            cfg["model_type"] = "no_such_model_type"
            with open(os.path.join(dst, "config.json"), "w") as f:
                json.dump(cfg, f, indent=2)
        write_manifest(dst)
        if kind == "badsum":
            # One byte of a file changed after the manifest was written: a corrupted copy.
            with open(os.path.join(dst, "tokenizer_config.json"), "ab") as f:
                f.write(b" ")
        revs[kind] = name
    return revs


class Load:
    """Clients that send chat completions without pause, each on its own keep-alive connection.

    A request that fails on a reused keep-alive connection before any response arrives (the gateway closed the idle
    connection, as nginx does to its idle connections when it reloads) is sent again on a new connection, up to
    `retries` times, as the official openai client does with its default max_retries=2. Those are counted apart
    (`retried`); every other failure, and one that is still failing after the retries, counts as failed.
    The clients together send at most `rate` requests a second (0: without pause), below the gateway's per-key rate
    limit, so that the run measures the upgrade and not the limit; a 429 is counted apart (`throttled`) all the same.
    """

    RETRYABLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)

    def __init__(self, base, ctx, key, model, clients, retries=2, rate=0.0):
        self.base, self.ctx, self.key, self.model = base, ctx, key, model
        self.retries = retries
        self.interval = clients / rate if rate > 0 else 0.0
        self.ok = 0
        self.retried = 0
        self.throttled = 0
        self.failed = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(i,)) for i in range(clients)]

    def client(self, index):
        u = urllib.parse.urlsplit(self.base)
        body = json.dumps({"model": self.model, "max_tokens": 8,
                           "messages": [{"role": "user", "content": "Say hello. (%d)" % index}]})
        headers = {"Content-Type": "application/json", "Authorization": "Bearer " + self.key}
        conn = None
        due = time.monotonic()
        while not self.stop.is_set():
            if self.interval:
                due += self.interval
                wait = due - time.monotonic()
                if wait > 0:
                    self.stop.wait(wait)
                else:
                    due = time.monotonic()  # behind (a slow answer): no burst to catch up
            attempts = 0
            while True:
                reused = conn is not None
                try:
                    if conn is None:
                        conn = http.client.HTTPSConnection(u.hostname, u.port or 443, context=self.ctx, timeout=120)
                    conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    status = resp.status
                except (OSError, http.client.HTTPException) as exc:
                    status = type(exc).__name__
                    conn = None
                    if reused and isinstance(exc, self.RETRYABLE) and attempts < self.retries:
                        attempts += 1
                        with self.lock:
                            self.retried += 1
                        continue
                break
            with self.lock:
                if status == 200:
                    self.ok += 1
                elif status == 429:
                    self.throttled += 1
                else:
                    self.failed.append((time.strftime("%H:%M:%S"), status))

    def counts(self):
        with self.lock:
            return self.ok + self.throttled + len(self.failed), len(self.failed), self.retried, self.throttled

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()


def tool(name):
    """The project's own copy of an Ansible command (its .venv), else the one on PATH."""
    own = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".venv", "bin", name)
    return own if os.access(own, os.X_OK) else name


def inventories(args):
    return [arg for inv in args.inventory for arg in ("-i", inv)]


def playbook(args, revision, log):
    cmd = [tool("ansible-playbook")] + inventories(args) + [args.playbook, "--tags", "serving",
                                                            "-e", "model_serving_model_revision=%s" % revision]
    start = time.time()
    with open(log, "w") as out:
        rc = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT)
    return rc, time.time() - start


def served(args):
    """Revision (the `current` link's target) and engine health of every replica, through ansible."""
    script = ("import json, os, sys, urllib.request\n"
              "rev = os.path.basename(os.readlink(\"%s/%s/current\"))\n"
              "try:\n"
              "    health = urllib.request.urlopen(\"http://%%s:%d/health\" %% sys.argv[1].split()[0], timeout=10).status\n"
              "except Exception as exc:\n"
              "    health = str(exc)\n"
              "print(json.dumps({\"revision\": rev, \"health\": health}))\n") % (args.store, args.model, args.port)
    argv = [tool("ansible")] + inventories(args) + [args.hosts, "-o", "-m", "ansible.builtin.shell",
                                                    "-a", "python3 -c '%s' \"$(hostname -I)\"" % script]
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    result = {}
    for line in out.stdout.splitlines():
        host, _sep, rest = line.partition(" | ")
        if "(stdout) {" in rest:
            result[host.strip()] = json.loads(rest[rest.index("(stdout) {") + 9:])
        elif host.strip():
            result[host.strip()] = {"revision": None, "health": rest[:200]}
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inventory", action="append",
                   help="inventory source, repeatable (default: inventories/prod and the sandbox overlay)")
    p.add_argument("--playbook", default="site.yml")
    p.add_argument("--hosts", default="inference_light", help="inventory pattern of the replicas")
    p.add_argument("--gateway", required=True, help="base URL of the gateway")
    p.add_argument("--ca", help="CA file that verifies the gateway")
    p.add_argument("--key-file", required=True)
    p.add_argument("--models-dir", required=True, help="the controller's model folder the store is published from")
    p.add_argument("--model", default="deepseek-v3-tiny")
    p.add_argument("--base-revision", default="r1", help="the revision served now (and the inventory's)")
    p.add_argument("--store", default="/var/lib/models", help="model_serving_store on the replicas")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--rate", type=float, default=8.0,
                   help="requests a second of all clients together, below the gateway's per-key limit (0: no pause)")
    p.add_argument("--retries", type=int, default=2,
                   help="new-connection retries of a request whose reused keep-alive connection was closed before any "
                        "response (0: count those as failed)")
    p.add_argument("--steps", default="good,badsum,badconfig", help="which of the three upgrades to run, in order")
    p.add_argument("--log-dir", default=".testbed/logs")
    p.add_argument("--no-restore", action="store_true")
    a = p.parse_args()
    a.inventory = a.inventory or ["inventories/prod", "inventories/sandbox.yml"]
    os.makedirs(a.log_dir, exist_ok=True)
    ctx = ssl.create_default_context(cafile=a.ca)
    with open(a.key_file) as f:
        key = f.read().strip()

    revs = make_revisions(a.models_dir, a.model, a.base_revision)
    before = served(a)
    print("before: %s" % json.dumps(before, sort_keys=True))
    load = Load(a.gateway, ctx, key, a.model, a.clients, a.retries, a.rate)
    load.start()
    time.sleep(5)
    rolled_back = 0
    steps = [(kind, revs[kind]) for kind in a.steps.split(",")]
    for kind, rev in steps:
        n0, f0, r0, t0 = load.counts()
        rc, secs = playbook(a, rev, os.path.join(a.log_dir, "rolling_upgrade_%s.log" % kind))
        state = served(a)
        n1, f1, r1, t1 = load.counts()
        revisions = sorted({s["revision"] for s in state.values()})
        healthy = all(s["health"] == 200 for s in state.values()) and len(state) > 0
        if kind == "good":
            ok = rc == 0 and revisions == [rev] and healthy
        else:
            ok = rc != 0 and revisions == [revs["good"]] and healthy
            rolled_back += int(ok)
        print("%-9s rev=%s rc=%d %.0fs served=%s healthy=%s requests=%d failed=%d retried=%d throttled=%d %s" % (
            kind, rev, rc, secs, revisions, healthy, n1 - n0, f1 - f0, r1 - r0, t1 - t0,
            "OK" if ok else "NOT AS EXPECTED"))
        sys.stdout.flush()
    time.sleep(5)
    load.finish()
    total, failed, retried, throttled = load.counts()
    if load.failed:
        print("failed requests (time, status): %s" % load.failed[:20])
    if not a.no_restore:
        rc, secs = playbook(a, a.base_revision, os.path.join(a.log_dir, "rolling_upgrade_restore.log"))
        print("restore rev=%s rc=%d %.0fs served=%s" % (
            a.base_revision, rc, secs, sorted({s["revision"] for s in served(a).values()})))
    print("retried on a new connection after a closed keep-alive connection: %d (--retries %d)" % (retried, a.retries))
    if throttled:
        print("%d requests were answered 429 by the gateway's rate limit: lower --rate" % throttled)
    print("rolling_upgrade requests=%d failed=%d throttled=%d rolled_back=%d" % (total, failed, throttled, rolled_back))


if __name__ == "__main__":
    main()
