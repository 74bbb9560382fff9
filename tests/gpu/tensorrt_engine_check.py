# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Export the tiny DeepSeek-V3 model with onprem.deepseek.onnx_export, then build real TensorRT engines with
onprem.deepseek.tensorrt_engine on a GPU host.

Needs: an NVIDIA driver and GPU, python3, TensorRT's Python package (the ``tensorrt`` wheels from NVIDIA's
index, or the TensorRT tarball's wheel), nvidia-ml-py, ansible-core, and for the export torch, transformers,
onnxscript, onnx and onnxruntime (the pins of molecule/python_env). From the repository root (= the collection root):

    python3 -m venv /tmp/trt-venv
    /tmp/trt-venv/bin/pip install tensorrt nvidia-ml-py ansible-core   # tensorrt from NVIDIA's index or a mirror
    /tmp/trt-venv/bin/pip install torch==2.13.0 transformers==5.24.0 onnx==1.23.2 onnxscript==0.7.2 onnxruntime==1.32.0
    /tmp/trt-venv/bin/python tests/gpu/tensorrt_engine_check.py /tmp/trt-results   # or OUT=/tmp/trt-results without the argument

The results directory is the first argument, else $OUT. ``--export-only`` runs part 1 alone (no TensorRT, no GPU:
it works on a CPU host). The script:

1. generates the tiny DeepSeek-V3 model with tests/tools/make_tiny_model.py and exports it with
   ``ansible localhost -m onprem.deepseek.onnx_export`` (AnsiballZ, this interpreter): an export (changed, onnxruntime's
   greedy tokens equal PyTorch's), then the same inputs again (not changed, file untouched);
2. builds an FP32 engine from that ONNX file with onprem.deepseek.tensorrt_engine (profile on ``input_ids``: batch
   1-4, sequence 1-128), deserialises it, checks its I/O tensors (``input_ids``, ``logits``) and, when torch sees
   CUDA, decodes greedily with the engine and reports whether its tokens equal PyTorch's (reported, not asserted:
   TensorRT may use TF32);
3. writes a small ONNX model (MatMul + Add + Relu, dynamic batch) with the ``onnx`` helper API and runs
   tensorrt_engine four times: a build (changed), the same inputs (not changed, engine untouched), another
   precision (changed, reason ``options``), and check mode with the first precision (changed, nothing written);
   deserialises the final engine with ``trt.Runtime`` and checks its I/O tensors;
4. writes run_<n>.json, summary.json (timings, engine sizes, tokens, failures) into the results directory.

Exit status: 0 all checks pass, 1 a check failed, 2 something needed could not run (no tensorrt, no
onnx, no torch, no ansible, no GPU).
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
EXPORT_MODULE = 'onprem.deepseek.onnx_export'
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


def run_module(collections, tmp, args, check=False, module=MODULE):
    ansible = os.path.join(os.path.dirname(sys.executable), 'ansible')
    if not os.access(ansible, os.X_OK):
        ansible = shutil.which('ansible')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_STDOUT_CALLBACK='minimal',
               ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='0',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='0')
    cmd = [ansible, 'localhost', '-i', 'localhost,', '-c', 'local', '-m', module, '-a', json.dumps(args),
           '-e', 'ansible_python_interpreter=%s' % sys.executable] + (['--check'] if check else [])
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    elapsed = round(time.monotonic() - start, 3)
    marker = proc.stdout.find('=> ')
    if marker < 0:
        return {'failed': True, 'msg': 'no result (rc=%d): %s %s' % (proc.returncode, proc.stdout, proc.stderr)}, elapsed
    return json.JSONDecoder().raw_decode(proc.stdout[marker + 3:].lstrip())[0], elapsed


class Checks(object):
    """The summary: named checks, failures, timings."""

    def __init__(self, out):
        self.out = out
        self.summary = {'checks': {}, 'failures': [], 'seconds': {}, 'setup_error': None}
        self.count = 0

    def expect(self, name, condition):
        self.summary['checks'][name] = bool(condition)
        if not condition:
            self.summary['failures'].append(name)

    def run(self, collections, tmp, name, args, check=False, module=MODULE, watch=None):
        """Run a module, record its result as run_<n>_<name>.json and the mtime of ``watch`` around it."""
        mtime = os.stat(watch).st_mtime_ns if watch and os.path.exists(watch) else None
        result, elapsed = run_module(collections, tmp, args, check, module)
        result['_mtime_before'] = mtime
        result['_mtime_after'] = os.stat(watch).st_mtime_ns if watch and os.path.exists(watch) else None
        self.summary['seconds'][name] = elapsed
        with open(os.path.join(self.out, 'run_%d_%s.json' % (self.count, name)), 'w') as handle:
            json.dump(result, handle, indent=2)
        self.count += 1
        if result.get('failed'):
            self.summary['failures'].append('%s: module failed: %s' % (name, result.get('msg')))
        return result

    def finish(self):
        with open(os.path.join(self.out, 'summary.json'), 'w') as handle:
            json.dump(self.summary, handle, indent=2)
        print(json.dumps(self.summary, indent=2))
        return 1 if self.summary['failures'] else 0


def export_tiny_model(checks, collections, tmp):
    """Part 1: the tiny DeepSeek-V3 model exported with onnx_export. Returns the export's result."""
    model = os.path.join(tmp, 'deepseek-v3-tiny')
    start = time.monotonic()
    proc = subprocess.run([sys.executable, os.path.join(REPO, 'tests', 'tools', 'make_tiny_model.py'), model],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    checks.summary['seconds']['make_tiny_model'] = round(time.monotonic() - start, 3)
    checks.expect('tiny model generated', proc.returncode == 0)
    if proc.returncode != 0:
        checks.summary['failures'].append('make_tiny_model.py: %s' % proc.stdout[-2000:])
        return None
    onnx_path = os.path.join(tmp, 'deepseek-v3-tiny.onnx')
    args = {'model': model, 'path': onnx_path, 'opset': 18, 'validation_steps': 8}
    first = checks.run(collections, tmp, 'onnx_export', args, module=EXPORT_MODULE, watch=onnx_path)
    again = checks.run(collections, tmp, 'onnx_export_unchanged', args, module=EXPORT_MODULE, watch=onnx_path)
    checks.expect('onnx_export: exported (changed)', first.get('changed') is True and first.get('exported') is True)
    checks.expect('onnx_export: onnxruntime greedy tokens equal PyTorch\'s',
                  bool(first.get('tokens')) and first.get('tokens') == first.get('onnxruntime_tokens'))
    checks.expect('onnx_export: unchanged inputs not exported again',
                  again.get('changed') is False and again['_mtime_before'] == again['_mtime_after'])
    checks.summary['onnx_export'] = dict((key, first.get(key)) for key in (
        'tokens', 'onnxruntime_tokens', 'max_logit_difference', 'total_bytes', 'sha256', 'export_seconds',
        'validation_seconds', 'versions'))
    return first if not first.get('failed') else None


def run_engine_greedy(trt, engine_bytes, prompt_ids, steps):
    """Greedy decoding with a TensorRT engine (input_ids -> logits), through torch's CUDA tensors."""
    import torch  # pylint: disable=import-outside-toplevel

    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine(engine_bytes)
    context = engine.create_execution_context()
    ids = list(prompt_ids)
    tokens = []
    for dummy in range(steps):
        inputs = torch.tensor([ids], dtype=torch.int64, device='cuda')
        context.set_input_shape('input_ids', tuple(inputs.shape))
        logits = torch.empty(tuple(context.get_tensor_shape('logits')), dtype=torch.float32, device='cuda')
        context.set_tensor_address('input_ids', inputs.data_ptr())
        context.set_tensor_address('logits', logits.data_ptr())
        if not context.execute_async_v3(torch.cuda.current_stream().cuda_stream):
            raise RuntimeError('execute_async_v3 failed')
        torch.cuda.synchronize()
        tokens.append(int(logits[0, -1].argmax()))
        ids.append(tokens[-1])
    return tokens


def tiny_model_engine(checks, collections, tmp, trt, export):
    """Part 2: a TensorRT engine from the exported tiny model."""
    engine = os.path.join(tmp, 'deepseek-v3-tiny.fp32.plan')
    args = {'onnx': export['path'], 'path': engine, 'precision': 'fp32', 'workspace_mib': 1024,
            'profiles': [{'shapes': [{'name': 'input_ids', 'min': [1, 1], 'opt': [1, 32], 'max': [4, 128]}]}]}
    result = checks.run(collections, tmp, 'tiny_engine', args, watch=engine)
    checks.expect('tiny model engine built', result.get('changed') is True and os.path.exists(engine))
    if not os.path.exists(engine):
        return
    with open(engine, 'rb') as handle:
        engine_bytes = handle.read()
    cuda_engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(engine_bytes)
    names = [cuda_engine.get_tensor_name(i) for i in range(cuda_engine.num_io_tensors)] if cuda_engine else []
    checks.expect('tiny model engine deserialises with I/O tensors input_ids and logits',
                  sorted(names) == ['input_ids', 'logits'])
    info = {'engine_bytes': result.get('engine_bytes'), 'build_seconds': result.get('build_seconds')}
    try:
        import torch  # pylint: disable=import-outside-toplevel
        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    if cuda and export.get('tokens'):
        try:
            info['tensorrt_tokens'] = run_engine_greedy(trt, engine_bytes, export['prompt_ids'], len(export['tokens']))
            info['tensorrt_tokens_equal_pytorch'] = info['tensorrt_tokens'] == export['tokens']
        except Exception as exc:  # pylint: disable=broad-except
            info['tensorrt_run_error'] = '%s: %s' % (type(exc).__name__, exc)
    else:
        info['tensorrt_run_skipped'] = 'torch has no CUDA device'
    checks.summary['tiny_engine'] = info


def matmul_engines(checks, collections, tmp, trt):
    """Part 3: rebuild decisions of tensorrt_engine on a small hand-written ONNX model."""
    onnx_path = os.path.join(tmp, 'tiny.onnx')
    write_onnx(onnx_path)
    engine = os.path.join(tmp, 'tiny.plan')
    base = {'onnx': onnx_path, 'path': engine, 'precision': 'fp16', 'workspace_mib': 256,
            'timing_cache': os.path.join(tmp, 'timing.cache'),
            'profiles': [{'shapes': [{'name': 'x', 'min': [1, 64], 'opt': [8, 64], 'max': [32, 64]}]}]}
    runs = [('build', base, False), ('unchanged', base, False), ('fp32', dict(base, precision='fp32'), False),
            ('check_fp16', base, True)]
    results = {}
    for name, args, check in runs:
        results[name] = checks.run(collections, tmp, name, args, check, watch=engine)
    expect = checks.expect
    expect('build changed', results['build'].get('changed') is True)
    expect('build wrote the engine and sidecar', os.path.exists(engine) and os.path.exists(engine + '.fingerprint.json'))
    expect('unchanged inputs: not changed', results['unchanged'].get('changed') is False)
    expect('unchanged inputs: engine untouched',
           results['unchanged']['_mtime_before'] == results['unchanged']['_mtime_after'])
    expect('fp32: rebuilt for options', results['fp32'].get('reasons') == ['options'])
    expect('check mode: would build', results['check_fp16'].get('changed') is True)
    expect('check mode: engine untouched',
           results['check_fp16']['_mtime_before'] == results['check_fp16']['_mtime_after'])
    checks.summary['engine_bytes'] = {k: v.get('engine_bytes') for k, v in results.items()}
    checks.summary['build_seconds'] = {k: v.get('build_seconds') for k, v in results.items()}
    checks.summary['compute_capability'] = (results['build'].get('fingerprint') or {}).get('compute_capability')

    if os.path.exists(engine):
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        with open(engine, 'rb') as handle:
            cuda_engine = runtime.deserialize_cuda_engine(handle.read())
        names = [cuda_engine.get_tensor_name(i) for i in range(cuda_engine.num_io_tensors)] if cuda_engine else []
        expect('engine deserialises with I/O tensors x and y', sorted(names) == ['x', 'y'])


def main():
    args = [arg for arg in sys.argv[1:] if arg != '--export-only']
    export_only = len(args) != len(sys.argv) - 1
    out = args[0] if args else os.environ.get('OUT')
    if not out:
        print('usage: tensorrt_engine_check.py [--export-only] RESULTS_DIR (or set OUT)', file=sys.stderr)
        return 2
    os.makedirs(out, exist_ok=True)
    checks = Checks(out)
    trt = None
    try:
        for name in ('torch', 'transformers', 'onnxscript', 'onnx', 'onnxruntime'):
            __import__(name)
        if not export_only:
            import tensorrt as trt  # pylint: disable=import-outside-toplevel
            checks.summary['tensorrt_version'] = trt.__version__
    except ImportError as exc:
        checks.summary['setup_error'] = 'cannot import %s' % exc
        checks.finish()
        return 2

    tmp = tempfile.mkdtemp(prefix='trt-check-')
    collections = collections_dir(tmp)
    export = export_tiny_model(checks, collections, tmp)
    if not export_only:
        if export:
            tiny_model_engine(checks, collections, tmp, trt, export)
        matmul_engines(checks, collections, tmp, trt)
    shutil.rmtree(tmp, ignore_errors=True)
    return checks.finish()


if __name__ == '__main__':
    sys.exit(main())
