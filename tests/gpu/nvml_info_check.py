# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Check onprem.deepseek.nvml_info against nvidia-smi on a real GPU host.

Needs: an NVIDIA driver (nvidia-smi on PATH), python3, nvidia-ml-py and ansible-core. From the
repository root (= the collection root) of a bare GPU host:

    python3 -m venv /tmp/nvml-venv
    /tmp/nvml-venv/bin/pip install nvidia-ml-py ansible-core
    /tmp/nvml-venv/bin/python tests/gpu/nvml_info_check.py /tmp/nvml-results

The results directory is the first argument, else $OUT. The script:

1. imports the module_utils (plugins/module_utils/_nvml.py) and times ``query()`` (the NVML work alone);
2. runs the real module end to end, ``ansible localhost -m onprem.deepseek.nvml_info``, through
   AnsiballZ with this interpreter as ansible_python_interpreter, and times it;
3. runs and times ``nvidia-smi -q -x`` and parses its XML;
4. cross-checks the module's result with nvidia-smi: GPU count, names, UUIDs, PCI bus ids, total
   memory (MiB, +-1 for rounding), driver version, CUDA version, and, where nvidia-smi reports them,
   persistence mode, current ECC mode and current MIG mode. The direct query and the module must
   agree too, and the module must report ``changed: false``.

It writes nvml_direct.json, nvml_module.json, nvidia_smi.xml, nvidia_smi_topo.txt and summary.json
into the results directory, prints the summary, and exits 0 when every check passes, 1 on any
mismatch, 2 when something needed could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
MODULE = 'onprem.deepseek.nvml_info'


def collections_dir(tmp):
    """A directory with ansible_collections/onprem/deepseek -> the repository root."""
    base = os.path.join(tmp, 'collections')
    parent = os.path.join(base, 'ansible_collections', 'onprem')
    os.makedirs(parent)
    os.symlink(REPO_ROOT, os.path.join(parent, 'deepseek'))
    return base


def run_direct(collections):
    """Import the module_utils and time query() alone."""
    sys.path.insert(0, collections)
    from ansible_collections.onprem.deepseek.plugins.module_utils import _nvml  # pylint: disable=import-outside-toplevel
    if not _nvml.HAS_PYNVML:
        return None, 0.0, 'pynvml is not importable:\n%s' % _nvml.PYNVML_IMPORT_ERROR
    start = time.monotonic()
    result = _nvml.query(include_topology=True)
    return result, time.monotonic() - start, None


def find_ansible():
    candidates = [os.path.join(os.path.dirname(sys.executable), 'ansible'), shutil.which('ansible')]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def run_module(collections, tmp):
    """Run the module through ansible (AnsiballZ), return (result, seconds, error)."""
    ansible = find_ansible()
    if ansible is None:
        return None, 0.0, 'the ansible command was not found (install ansible-core)'
    env = dict(os.environ)
    env.update({
        'ANSIBLE_COLLECTIONS_PATH': collections,
        'ANSIBLE_STDOUT_CALLBACK': 'minimal',
        'ANSIBLE_LOAD_CALLBACK_PLUGINS': '1',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_LOCALHOST_WARNING': '0',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': '0',
    })
    # Run from the temporary directory so that no project ansible.cfg is picked up.
    cmd = [ansible, 'localhost', '-i', 'localhost,', '-c', 'local', '-m', MODULE,
           '-e', 'ansible_python_interpreter=%s' % sys.executable]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    elapsed = time.monotonic() - start
    marker = proc.stdout.find('=> ')
    if marker < 0:
        return None, elapsed, 'no result from %s (rc=%d)\nstdout:\n%s\nstderr:\n%s' % (
            ' '.join(cmd), proc.returncode, proc.stdout, proc.stderr)
    try:
        result = json.JSONDecoder().raw_decode(proc.stdout[marker + 3:].lstrip())[0]
    except ValueError as exc:
        return None, elapsed, 'cannot parse the module result: %s\n%s' % (exc, proc.stdout)
    if proc.returncode != 0 or result.get('failed'):
        return result, elapsed, 'the module failed (rc=%d): %s' % (proc.returncode, result.get('msg'))
    return result, elapsed, None


def _text(node, path):
    found = node.find(path)
    if found is None or found.text is None:
        return None
    text = found.text.strip()
    return None if text in ('', 'N/A') else text


def _enabled(text):
    if text is None:
        return None
    return text.lower() == 'enabled'


def _mib(text):
    if text is None:
        return None
    return int(text.split()[0])


def run_nvidia_smi(outdir):
    """Run nvidia-smi -q -x, return (parsed dict, seconds, error)."""
    smi = shutil.which('nvidia-smi')
    if smi is None:
        return None, 0.0, 'nvidia-smi is not on PATH'
    start = time.monotonic()
    proc = subprocess.run([smi, '-q', '-x'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    elapsed = time.monotonic() - start
    with open(os.path.join(outdir, 'nvidia_smi.xml'), 'w', encoding='utf-8') as handle:
        handle.write(proc.stdout)
    if proc.returncode != 0:
        return None, elapsed, 'nvidia-smi -q -x failed (rc=%d): %s' % (proc.returncode, proc.stderr)
    root = ET.fromstring(proc.stdout)
    gpus = []
    for gpu in root.findall('gpu'):
        gpus.append({
            'pci_bus_id': gpu.get('id'),
            'name': _text(gpu, 'product_name'),
            'uuid': _text(gpu, 'uuid'),
            'memory_total_mib': _mib(_text(gpu, 'fb_memory_usage/total')),
            'persistence_mode': _enabled(_text(gpu, 'persistence_mode')),
            'ecc_mode_current': _enabled(_text(gpu, 'ecc_mode/current_ecc')),
            'mig_mode_current': _enabled(_text(gpu, 'mig_mode/current_mig')),
        })
    parsed = {
        'driver_version': _text(root, 'driver_version'),
        'cuda_version': _text(root, 'cuda_version'),
        'attached_gpus': int(_text(root, 'attached_gpus') or 0),
        'gpus': gpus,
    }
    topo = subprocess.run([smi, 'topo', '-m'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
    with open(os.path.join(outdir, 'nvidia_smi_topo.txt'), 'w', encoding='utf-8') as handle:
        handle.write(topo.stdout)
    return parsed, elapsed, None


def normalize_bus_id(bus_id):
    if not bus_id:
        return None
    parts = bus_id.strip().lower().split(':')
    if len(parts) != 3:
        return bus_id.strip().lower()
    return '%04x:%s:%s' % (int(parts[0], 16), parts[1], parts[2])


def cross_check(module, smi):
    """Return the list of mismatches between the module result and nvidia-smi."""
    problems = []

    def expect(what, got, want):
        if got != want:
            problems.append('%s: nvml_info %r, nvidia-smi %r' % (what, got, want))

    expect('changed', module.get('changed'), False)
    expect('driver_present', module.get('driver_present'), True)
    expect('errors', module.get('errors'), [])
    expect('gpu_count', module.get('gpu_count'), smi['attached_gpus'])
    expect('len(gpus)', len(module.get('gpus', [])), len(smi['gpus']))
    expect('driver_version', module.get('driver_version'), smi['driver_version'])
    expect('cuda_driver_version', module.get('cuda_driver_version'), smi['cuda_version'])
    by_bus = dict((normalize_bus_id(gpu['pci_bus_id']), gpu) for gpu in smi['gpus'])
    for gpu in module.get('gpus', []):
        label = 'GPU %s' % gpu.get('index')
        ref = by_bus.get(normalize_bus_id(gpu.get('pci_bus_id')))
        if ref is None:
            problems.append('%s: PCI bus id %s not in nvidia-smi (%s)' % (label, gpu.get('pci_bus_id'), sorted(by_bus)))
            continue
        expect(label + ' error', gpu.get('error'), None)
        expect(label + ' name', gpu.get('name'), ref['name'])
        expect(label + ' uuid', gpu.get('uuid'), ref['uuid'])
        mem, ref_mem = gpu.get('memory_total_mib'), ref['memory_total_mib']
        if mem is None or ref_mem is None or abs(mem - ref_mem) > 1:
            problems.append('%s memory_total_mib: nvml_info %r, nvidia-smi %r' % (label, mem, ref_mem))
        for key in ('persistence_mode', 'ecc_mode_current', 'mig_mode_current'):
            if ref[key] is not None:
                expect('%s %s' % (label, key), gpu.get(key), ref[key])
    return problems


def compare_direct(direct, module):
    """The direct query and the module must describe the same hardware (volatile values aside)."""
    problems = []
    stable = ('index', 'uuid', 'name', 'pci_bus_id', 'memory_total_bytes', 'compute_capability', 'mig_mode_current',
              'nvlink_active_links')
    for key in ('driver_present', 'driver_version', 'cuda_driver_version', 'gpu_count', 'nvswitch_present', 'topology'):
        if direct.get(key) != module.get(key):
            problems.append('direct query vs module %s: %r != %r' % (key, direct.get(key), module.get(key)))
    for a, b in zip(direct.get('gpus', []), module.get('gpus', [])):
        for key in stable:
            if a.get(key) != b.get(key):
                problems.append('direct query vs module GPU %s %s: %r != %r' % (a.get('index'), key, a.get(key), b.get(key)))
    return problems


def write_json(outdir, name, data):
    with open(os.path.join(outdir, name), 'w', encoding='utf-8') as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write('\n')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0])
    parser.add_argument('outdir', nargs='?', default=os.environ.get('OUT'),
                        help='directory for the results (default: $OUT)')
    args = parser.parse_args()
    if not args.outdir:
        parser.error('give a results directory or set $OUT')
    os.makedirs(args.outdir, exist_ok=True)

    summary = {'python': sys.executable, 'problems': [], 'setup_errors': [], 'seconds': {}}
    tmp = tempfile.mkdtemp(prefix='nvml-info-check-')
    try:
        collections = collections_dir(tmp)
        direct, summary['seconds']['nvml_query_direct'], error = run_direct(collections)
        if error:
            summary['setup_errors'].append(error)
        else:
            write_json(args.outdir, 'nvml_direct.json', direct)
        module, summary['seconds']['ansible_module'], error = run_module(collections, tmp)
        if module is not None:
            write_json(args.outdir, 'nvml_module.json', module)
        if error:
            summary['setup_errors'].append(error)
        smi, summary['seconds']['nvidia_smi_q_x'], error = run_nvidia_smi(args.outdir)
        if error:
            summary['setup_errors'].append(error)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    if module is not None and smi is not None and not module.get('failed'):
        summary['problems'].extend(cross_check(module, smi))
    if direct is not None and module is not None and not module.get('failed'):
        summary['problems'].extend(compare_direct(direct, module))
    if module is not None:
        summary['module'] = dict((key, module.get(key)) for key in (
            'driver_present', 'reason', 'driver_version', 'cuda_driver_version', 'gpu_count', 'nvswitch_present',
            'nvswitch_detection', 'errors'))
        summary['module']['gpus'] = [dict((key, gpu.get(key)) for key in (
            'index', 'name', 'memory_total_mib', 'compute_capability', 'mig_mode_current', 'nvlink_active_links',
            'power_limit_w', 'temperature_c')) for gpu in module.get('gpus', [])]
    if smi is not None:
        summary['nvidia_smi'] = smi
    write_json(args.outdir, 'summary.json', summary)

    print(json.dumps(module if module is not None else direct, indent=2, sort_keys=True))
    print('--- timings (s): %s' % json.dumps(summary['seconds'], sort_keys=True))
    for error in summary['setup_errors']:
        print('SETUP ERROR: %s' % error)
    for problem in summary['problems']:
        print('MISMATCH: %s' % problem)
    if summary['setup_errors']:
        return 2
    if summary['problems']:
        return 1
    print('OK: nvml_info agrees with nvidia-smi on %d GPU(s); results in %s' % (smi['attached_gpus'], args.outdir))
    return 0


if __name__ == '__main__':
    sys.exit(main())
