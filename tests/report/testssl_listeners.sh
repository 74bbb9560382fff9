#!/usr/bin/env bash
# testssl.sh (Debian's package, on the controller) against every TLS listener of the running sandbox. The listeners
# are the registered TCP ports that the site report found speaking TLS (site-report.json); each is scanned from inside
# its host's network namespace (nsenter), so that the host's firewall sees a local client and no rule is opened for
# the test. Writes <host>_<port>.json (testssl.sh --jsonfile) into OUT, the folder the report reads as
# report_testssl_dir, and fails when a listener offers a protocol other than TLS 1.3 or could not be scanned.
#   usage: testssl_listeners.sh SITE_REPORT_JSON OUT
source "$(dirname "$0")/../testbed/lib.sh"
cd "$TESTBED_ROOT"
export PATH="${TESTBED_VENV}/bin:${PATH}"
report_json=$1
out=$2
inv=(-i inventories/prod -i inventories/sandbox.yml)
command -v testssl >/dev/null || { log "testssl: testssl.sh is not installed (make tools)"; exit 1; }
mkdir -p "$out"
rm -f "$out"/*.json

mapfile -t listeners < <(python3 - "$report_json" <<'EOF'
import json, sys
for host in json.load(open(sys.argv[1]))['hosts']:
    for port in (host.get('security') or {}).get('ports') or []:
        if port.get('tls') and port['proto'] == 'tcp':
            print(host['name'], port['port'])
EOF
)
[ "${#listeners[@]}" -gt 0 ] || { log "testssl: the report lists no TLS listener"; exit 1; }

scan() {  # scan <host> <port>
  local host=$1 port=$2 container pid address
  container=$(ansible-inventory "${inv[@]}" --host "$host" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ansible_host"])')
  pid=$(docker inspect -f '{{.State.Pid}}' "$container") || return 1
  # The address the port listens on (a wildcard is scanned on loopback).
  address=$(nsenter -t "$pid" -n ss -Htln "sport = :${port}" | awk 'NR==1 {print $4}')
  address=${address%:*}
  case "$address" in ''|0.0.0.0|'*'|'[::]') address=127.0.0.1 ;; esac
  address=${address#[}
  address=${address%]}
  nsenter -t "$pid" -n timeout 300 testssl --nodns none --quiet --color 0 --warnings off --protocols \
    --jsonfile "${out}/${host}_${port}.json" "${address}:${port}" >"${out}/${host}_${port}.log" 2>&1
}

log "testssl: ${#listeners[@]} TLS listeners"
pids=()
for entry in "${listeners[@]}"; do
  read -r host port <<<"$entry"
  scan "$host" "$port" &
  pids+=($!)
  # Two scans at a time on the test machine's cores.
  if [ "${#pids[@]}" -ge 2 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
wait

python3 - "$out" "${listeners[@]}" <<'EOF'
import json, os, sys
out, listeners = sys.argv[1], sys.argv[2:]
protocols = ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1', 'TLS1_2', 'TLS1_3']
bad = []
for entry in listeners:
    host, port = entry.split()
    path = os.path.join(out, '%s_%s.json' % (host, port))
    try:
        findings = json.load(open(path))
    except (OSError, ValueError) as exc:
        bad.append('%s:%s not scanned (%s)' % (host, port, exc))
        continue
    offered = sorted(f['id'] for f in findings if f.get('id') in protocols and f.get('finding', '').startswith('offered'))
    print('testssl %s:%s offered %s' % (host, port, offered))
    if offered != ['TLS1_3']:
        bad.append('%s:%s offers %s' % (host, port, offered))
print('testssl listeners=%d only_tls13=%d' % (len(listeners), len(listeners) - len(bad)))
if bad:
    print('NOT ONLY TLS 1.3: ' + '; '.join(bad))
    sys.exit(1)
EOF
