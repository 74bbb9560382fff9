# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Open the site report in headless Chromium with no network, keep its DOM and a screenshot, and check it.

  browser_check.py PAGE OUTDIR [--expect-hosts N] [--expect-status HOST=STATUS ...] [--expect-revision HOST=REV ...]
                   [--expect-alert NAME@HOST ...]

- The page is validated as HTML by tidy (errors and warnings both fail).
- Chromium runs in a new network namespace (nothing but a down loopback; root needed) and writes its NetLog; any
  http(s), ws(s) or ftp request in the NetLog fails the check, as does a CSP violation in the console.
- The DOM Chromium dumps (after layout) is parsed: one row per host with its status, reasons and served revisions,
  and the alerts table. The summary is written to OUTDIR/dom-summary.json and printed; each --expect-* is asserted.
Exit 0 when every check holds, 1 otherwise (the reasons printed)."""

from __future__ import annotations

import argparse
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys


class Dom(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows = []
        self.alerts = []
        self._row = None
        self._reason = False
        self.tags = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        classes = (attrs.get('class') or '').split()
        if tag == 'tr' and 'host' in classes:
            self._row = {'host': attrs.get('data-host'), 'status': attrs.get('data-status'),
                         'tier': attrs.get('data-tier'), 'classes': classes, 'reasons': [], 'revisions': []}
            self.rows.append(self._row)
        elif tag == 'tr' and 'alert' in classes:
            self.alerts.append({'name': attrs.get('data-alert'), 'instance': attrs.get('data-instance')})
        elif tag == 'span' and 'served' in classes and self._row is not None:
            self._row['revisions'].append(attrs.get('data-revision'))
        elif tag == 'span' and 'reason' in classes:
            self._reason = True

    def handle_endtag(self, tag):
        if tag == 'tr':
            self._row = None
        if tag == 'span':
            self._reason = False

    def handle_data(self, data):
        if self._reason and self._row is not None:
            self._row['reasons'].append(data)


def chromium():
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        path = shutil.which(name)
        if path:
            return path
    sys.exit('browser_check: no chromium on PATH (Debian package chromium; make tools installs it)')


def run_browser(page, outdir):
    url = 'file://' + os.path.abspath(page)
    netlog = os.path.join(outdir, 'netlog.json')
    profile = os.path.join(outdir, 'chromium-profile')
    common = [chromium(), '--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check',
              '--disable-background-networking', '--disable-component-update', '--disable-sync',
              '--disable-domain-reliability', '--metrics-recording-only', '--user-data-dir=' + profile,
              '--window-size=1600,1400', '--enable-logging=stderr', '--v=0']
    isolate = ['unshare', '--net', '--']
    dom = subprocess.run(isolate + common + ['--log-net-log=' + netlog, '--net-log-capture-mode=Everything',
                                             '--virtual-time-budget=3000', '--dump-dom', url],
                         capture_output=True, text=True, timeout=120, check=False)
    shot = subprocess.run(isolate + common + ['--screenshot=' + os.path.join(outdir, 'site-report.png'), url],
                          capture_output=True, text=True, timeout=120, check=False)
    with open(os.path.join(outdir, 'chromium.log'), 'w') as handle:
        handle.write(dom.stderr + '\n--- screenshot ---\n' + shot.stderr)
    return dom, shot, netlog


def network_requests(netlog):
    """URLs of the requests the page (not the browser itself) started, from the NetLog's URL_REQUEST_START_JOB
    events: the browser's own background requests have the initiator "not an origin", the page's have its origin
    ("null" for a file:// page). Only file: and data: URLs may appear."""
    if not os.path.exists(netlog):
        return ['no NetLog written']
    with open(netlog) as handle:
        text = handle.read()
    try:
        data = json.loads(text)
    except ValueError:
        data = json.loads(text.rstrip().rstrip(',') + ']}')  # a NetLog cut short by the browser's exit
    start_job = data['constants']['logEventTypes']['URL_REQUEST_START_JOB']
    found = set()
    for event in data.get('events', []):
        params = event.get('params') or {}
        if event.get('type') != start_job or 'url' not in params:
            continue
        if params.get('initiator') == 'not an origin':
            continue
        if not re.match(r'(file|data):', params['url']):
            found.add(params['url'])
    return sorted(found)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('page')
    parser.add_argument('outdir')
    parser.add_argument('--expect-hosts', type=int)
    parser.add_argument('--expect-status', action='append', default=[])
    parser.add_argument('--expect-revision', action='append', default=[])
    parser.add_argument('--expect-alert', action='append', default=[])
    args = parser.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    problems = []

    tidy = shutil.which('tidy')
    if not tidy:
        problems.append('no tidy on PATH (Debian package tidy; make tools installs it)')
    else:
        checked = subprocess.run([tidy, '-q', '-e', '--show-warnings', 'yes', args.page], capture_output=True, text=True,
                                 check=False)
        if checked.returncode != 0:
            problems.append('tidy (exit %d): %s' % (checked.returncode, checked.stderr.strip()))

    dom, shot, netlog = run_browser(args.page, args.outdir)
    if dom.returncode != 0 or not dom.stdout.strip():
        problems.append('chromium --dump-dom exited %d: %s' % (dom.returncode, dom.stderr[-2000:]))
    if shot.returncode != 0 or not os.path.exists(os.path.join(args.outdir, 'site-report.png')):
        problems.append('chromium --screenshot exited %d: %s' % (shot.returncode, shot.stderr[-2000:]))
    with open(os.path.join(args.outdir, 'dom.html'), 'w') as handle:
        handle.write(dom.stdout)
    requests = network_requests(netlog)
    if requests:
        problems.append('network requests in the NetLog: %s' % requests[:10])
    if 'Content Security Policy' in dom.stderr or 'Refused to' in dom.stderr:
        problems.append('CSP violation: %s' % [line for line in dom.stderr.splitlines()
                                               if 'Refused to' in line or 'Content Security Policy' in line][:5])

    parsed = Dom()
    parsed.feed(dom.stdout)
    summary = {'hosts': len(parsed.rows), 'rows': parsed.rows, 'alerts': parsed.alerts, 'network_requests': requests,
               'screenshot': os.path.join(args.outdir, 'site-report.png')}
    with open(os.path.join(args.outdir, 'dom-summary.json'), 'w') as handle:
        json.dump(summary, handle, indent=2)
    rows = dict((r['host'], r) for r in parsed.rows)
    if 'script' in parsed.tags:
        problems.append('the DOM has a script element')
    if args.expect_hosts is not None and len(parsed.rows) != args.expect_hosts:
        problems.append('%d host rows, expected %d: %s' % (len(parsed.rows), args.expect_hosts, sorted(rows)))
    for item in args.expect_status:
        host, status = item.split('=', 1)
        got = rows.get(host, {}).get('status')
        if got not in status.split('|'):
            problems.append('%s: status %s, expected %s (reasons %s)' % (host, got, status,
                                                                         rows.get(host, {}).get('reasons')))
    for item in args.expect_revision:
        host, revision = item.split('=', 1)
        if revision not in rows.get(host, {}).get('revisions', []):
            problems.append('%s: revisions %s, expected %s' % (host, rows.get(host, {}).get('revisions'), revision))
    for item in args.expect_alert:
        name, host = item.split('@', 1)
        if not any(a['name'] == name and host in (a['instance'] or '') for a in parsed.alerts):
            problems.append('no %s alert for %s among %s' % (name, host, parsed.alerts))
    print(json.dumps({'hosts': summary['hosts'], 'statuses': dict((h, r['status']) for h, r in rows.items()),
                      'alerts': parsed.alerts, 'network_requests': requests}, sort_keys=True))
    for problem in problems:
        print('FAIL: ' + problem)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
