# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Build a real TensorRT engine with onprem.deepseek.tensorrt_engine on a GPU host.

Needs: an NVIDIA driver and GPU, python3, TensorRT's Python package (the ``tensorrt`` wheels from NVIDIA's
index, or the TensorRT tarball's wheel), nvidia-ml-py, onnx and ansible-core. From the repository root
(= the collection root):

    python3 -m venv /tmp/trt-venv
    /tmp/trt-venv/bin/pip install tensorrt nvidia-ml-py onnx ansible-core   # tensorrt from NVIDIA's index or a mirror
    /tmp/trt-venv/bin/python tests/gpu/tensorrt_engine_check.py /tmp/trt-results   # or OUT=/tmp/trt-results without the argument

The results directory is the first argument, else $OUT. The script:

1. writes a small ONNX model (MatMul + Add + Relu, dynamic batch) with the ``onnx`` helper API;
2. runs the real module through ``ansible localhost -m onprem.deepseek.tensorrt_engine`` (AnsiballZ) four
   times: a build (changed), the same inputs (not changed, engine untouched), another precision
   (changed, reason ``options``), and check mode with the first precision (changed, nothing written);
3. deserialises the final engine with ``trt.Runtime`` and checks its I/O tensors;
4. writes run_<n>.json, summary.json (timings, engine sizes, failures) into the results directory.

Exit status: 0 all checks pass, 1 a check failed, 2 something needed could not run (no tensorrt, no
onnx, no ansible, no GPU).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

MODULE = 'onprem.deepseek.tensorrt_engine'
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def collections_dir(tmp):
    root = os.path.join(tmp, 'collections')
    os.makedirs(os.path.join(root, 'ansible_collections', 'onprem'))
    os.symlink(REPO, os.path.join(root, 'ansible_collections', 'onprem', 'deepseek'))
    return root


def write_onnx(path):
    import numpy as np  # pylint: disable=import-outside-toplevel
    import onnx  # pylint: disable=import-outside-toplevel
    from onnx import TensorProto, helper, numpy_helper  # pylint: disable=import-outside-toplevel

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((64, 32)).astype(np.float32), 'w')
    bias = numpy_helper.from_array(rng.standard_normal((32,)).astype(np.float32), 'b')
    graph = helper.make_graph(
        [helper.make_node('MatMul', ['x', 'w'], ['h']), helper.make_node('Add', ['h', 'b'], ['z']),
         helper.make_node('Relu', ['z'], ['y'])],
        'tiny', [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['batch', 64])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, ['batch', 32])], [weight, bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def run_module(collections, tmp, args, check=False):
    ansible = os.path.join(os.path.dirname(sys.executable), 'ansible')
    if not os.access(ansible, os.X_OK):
        ansible = shutil.which('ansible')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_STDOUT_CALLBACK='minimal',
               ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='0',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='0')
    cmd = [ansible, 'localhost', '-i', 'localhost,', '-c', 'local', '-m', MODULE, '-a', json.dumps(args),
           '-e', 'ansible_python_interpreter=%s' % sys.executable] + (['--check'] if check else [])
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    elapsed = round(time.monotonic() - start, 3)
    marker = proc.stdout.find('=> ')
    if marker < 0:
        return {'failed': True, 'msg': 'no result (rc=%d): %s %s' % (proc.returncode, proc.stdout, proc.stderr)}, elapsed
    return json.JSONDecoder().raw_decode(proc.stdout[marker + 3:].lstrip())[0], elapsed


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('OUT')
    if not out:
        print('usage: tensorrt_engine_check.py RESULTS_DIR (or set OUT)', file=sys.stderr)
        return 2
    os.makedirs(out, exist_ok=True)
    summary = {'checks': {}, 'failures': [], 'seconds': {}, 'setup_error': None}
    try:
        import tensorrt as trt  # pylint: disable=import-outside-toplevel
        summary['tensorrt_version'] = trt.__version__
        import onnx  # noqa: F401 pylint: disable=import-outside-toplevel,unused-import
    except ImportError as exc:
        summary['setup_error'] = 'cannot import %s' % exc
        print(json.dumps(summary, indent=2))
        with open(os.path.join(out, 'summary.json'), 'w') as handle:
            json.dump(summary, handle, indent=2)
        return 2

    tmp = tempfile.mkdtemp(prefix='trt-check-')
    collections = collections_dir(tmp)
    onnx_path = os.path.join(tmp, 'tiny.onnx')
    write_onnx(onnx_path)
    engine = os.path.join(tmp, 'tiny.plan')
    base = {'onnx': onnx_path, 'path': engine, 'precision': 'fp16', 'workspace_mib': 256,
            'timing_cache': os.path.join(tmp, 'timing.cache'),
            'profiles': [{'shapes': [{'name': 'x', 'min': [1, 64], 'opt': [8, 64], 'max': [32, 64]}]}]}
    runs = [('build', base, False), ('unchanged', base, False), ('fp32', dict(base, precision='fp32'), False),
            ('check_fp16', base, True)]
    results = {}
    for index, (name, args, check) in enumerate(runs):
        mtime = os.stat(engine).st_mtime_ns if os.path.exists(engine) else None
        result, elapsed = run_module(collections, tmp, args, check)
        result['_engine_mtime_before'] = mtime
        result['_engine_mtime_after'] = os.stat(engine).st_mtime_ns if os.path.exists(engine) else None
        results[name] = result
        summary['seconds'][name] = elapsed
        with open(os.path.join(out, 'run_%d_%s.json' % (index, name)), 'w') as handle:
            json.dump(result, handle, indent=2)
        if result.get('failed'):
            summary['failures'].append('%s: module failed: %s' % (name, result.get('msg')))

    def expect(name, condition):
        summary['checks'][name] = bool(condition)
        if not condition:
            summary['failures'].append(name)

    expect('build changed', results['build'].get('changed') is True)
    expect('build wrote the engine and sidecar', os.path.exists(engine) and os.path.exists(engine + '.fingerprint.json'))
    expect('unchanged inputs: not changed', results['unchanged'].get('changed') is False)
    expect('unchanged inputs: engine untouched',
           results['unchanged']['_engine_mtime_before'] == results['unchanged']['_engine_mtime_after'])
    expect('fp32: rebuilt for options', results['fp32'].get('reasons') == ['options'])
    expect('check mode: would build', results['check_fp16'].get('changed') is True)
    expect('check mode: engine untouched',
           results['check_fp16']['_engine_mtime_before'] == results['check_fp16']['_engine_mtime_after'])
    summary['engine_bytes'] = {k: v.get('engine_bytes') for k, v in results.items()}
    summary['build_seconds'] = {k: v.get('build_seconds') for k, v in results.items()}
    summary['compute_capability'] = (results['build'].get('fingerprint') or {}).get('compute_capability')

    if os.path.exists(engine):
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        with open(engine, 'rb') as handle:
            cuda_engine = runtime.deserialize_cuda_engine(handle.read())
        names = [cuda_engine.get_tensor_name(i) for i in range(cuda_engine.num_io_tensors)] if cuda_engine else []
        expect('engine deserialises with I/O tensors x and y', sorted(names) == ['x', 'y'])

    with open(os.path.join(out, 'summary.json'), 'w') as handle:
        json.dump(summary, handle, indent=2)
    print(json.dumps(summary, indent=2))
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if summary['failures'] else 0


if __name__ == '__main__':
    sys.exit(main())
