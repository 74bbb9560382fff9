# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reads a KV secret from the cluster every 0.2 s until STOP exists, as a client that knows every node would: each
read tries the nodes in turn and takes the first answer, and a read that no node answers is tried again twice, 1 s
apart (the retries of the official client). Writes the counts to OUT as JSON.

usage: read_loop.py NODE,NODE,... CA TOKEN_FILE PATH OUT STOP
"""

import json
import os
import ssl
import sys
import time
import urllib.request

nodes, ca, token_file, path, out, stop = sys.argv[1].split(','), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], \
    sys.argv[6]
with open(token_file) as f:
    token = f.read().strip()
ctx = ssl.create_default_context(cafile=ca)


def read_once():
    for node in nodes:
        req = urllib.request.Request('https://%s:8200/v1/%s' % (node, path), headers={'X-Vault-Token': token})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=2) as resp:
                if resp.status == 200:
                    return node
        except (OSError, ValueError):
            continue
    return None


reads = retried = failed = 0
served = {}
failures = []
deadline = time.time() + 900
while time.time() < deadline and not os.path.exists(stop):
    reads += 1
    node = read_once()
    attempts = 0
    while node is None and attempts < 2:
        attempts += 1
        retried += 1
        time.sleep(1)
        node = read_once()
    if node is None:
        failed += 1
        failures.append(time.strftime('%H:%M:%S'))
    else:
        served[node] = served.get(node, 0) + 1
    time.sleep(0.2)
with open(out, 'w') as f:
    json.dump({'reads': reads, 'failed': failed, 'retried': retried, 'served': served, 'failures': failures[:20]}, f)
