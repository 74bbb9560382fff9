# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small model evaluation job of onprem.deepseek (installed by the monitoring role).

Asks an OpenAI-compatible endpoint (POST <endpoint>/v1/chat/completions) a fixed set of questions,
scores each answer (pass when it contains the expected text, case-insensitive) and writes, for the
node exporter's textfile collector, atomically:

  deepseek_eval_accuracy_ratio{model,suite}            share of passed cases (0..1)
  deepseek_eval_baseline_accuracy_ratio{model,suite}   the recorded baseline (0..1)
  deepseek_eval_cases{model,suite}                     number of cases asked
  deepseek_eval_success{model,suite}                   1 when the endpoint answered every case, else 0
  deepseek_eval_last_run_timestamp_seconds{model,suite}

The baseline is the configured one, or else the first successful run's accuracy, kept in
<state_dir>/baseline.json. When the endpoint fails, only success=0 and the timestamp are written,
so that a broken endpoint shows as TargetDown/eval failure and not as a quality drop.
Usage: deepseek_eval.py CONFIG_JSON      Exit status: 0 success, 1 endpoint failure, 2 bad config.
"""

import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request

SUITE = 'smoke'


def ask(endpoint, model, prompt, timeout):
    body = json.dumps({'model': model, 'messages': [{'role': 'user', 'content': prompt}],
                       'max_tokens': 64, 'temperature': 0}).encode()
    request = urllib.request.Request(endpoint.rstrip('/') + '/v1/chat/completions', data=body,
                                     headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.load(response)
    return answer['choices'][0]['message']['content'] or ''


def evaluate(config, asker=ask):
    """Return (accuracy or None on endpoint failure, number of cases)."""
    cases = config['cases']
    passed = 0
    for case in cases:
        try:
            content = asker(config['endpoint'], config['model'], case['prompt'], config.get('timeout_s', 60))
        except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError, TypeError):
            return None, len(cases)
        if str(case['expected']).lower() in content.lower():
            passed += 1
    return (passed / len(cases) if cases else 0.0), len(cases)


def baseline_for(config, accuracy):
    if config.get('baseline') is not None:
        return float(config['baseline'])
    path = os.path.join(config['state_dir'], 'baseline.json')
    try:
        with open(path) as f:
            return float(json.load(f)['accuracy'])
    except (OSError, ValueError, KeyError):
        pass
    if accuracy is None:
        return None
    write_atomic(path, json.dumps({'accuracy': accuracy, 'recorded_at': int(time.time())}) + '\n')
    return accuracy


def render(model, accuracy, baseline, cases, now):
    labels = '{model="%s",suite="%s"}' % (model.replace('\\', '\\\\').replace('"', '\\"'), SUITE)
    lines = []

    def metric(name, kind, text, value):
        lines.extend(['# HELP %s %s' % (name, text), '# TYPE %s %s' % (name, kind), '%s%s %s' % (name, labels, value)])

    if accuracy is not None:
        metric('deepseek_eval_accuracy_ratio', 'gauge', 'Share of evaluation cases answered correctly.', repr(accuracy))
    if baseline is not None:
        metric('deepseek_eval_baseline_accuracy_ratio', 'gauge', 'Recorded baseline accuracy.', repr(baseline))
    metric('deepseek_eval_cases', 'gauge', 'Number of evaluation cases.', cases)
    metric('deepseek_eval_success', 'gauge', 'Whether the endpoint answered every case.', 0 if accuracy is None else 1)
    metric('deepseek_eval_last_run_timestamp_seconds', 'gauge', 'When the evaluation last ran.', int(now))
    return '\n'.join(lines) + '\n'


def write_atomic(path, text):
    directory = os.path.dirname(path) or '.'
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.tmp-')
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(argv, asker=ask, now=time.time):
    if len(argv) != 2:
        sys.stderr.write('usage: deepseek_eval.py CONFIG_JSON\n')
        return 2
    try:
        with open(argv[1]) as f:
            config = json.load(f)
        config['endpoint'], config['model'], config['textfile'], config['state_dir'], config['cases']
    except (OSError, ValueError, KeyError) as exc:
        sys.stderr.write('bad configuration %s: %s\n' % (argv[1], exc))
        return 2
    accuracy, cases = evaluate(config, asker)
    baseline = baseline_for(config, accuracy)
    write_atomic(config['textfile'], render(config['model'], accuracy, baseline, cases, now()))
    if accuracy is None:
        sys.stderr.write('endpoint %s did not answer\n' % config['endpoint'])
        return 1
    print('accuracy %.4f baseline %s over %d cases' % (accuracy, baseline, cases))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
