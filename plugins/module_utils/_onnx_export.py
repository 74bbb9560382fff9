# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ONNX export of a local Hugging Face causal language model, for onprem.deepseek.onnx_export.

The libraries are heavy (importing torch and transformers takes seconds), and most runs of the module only
compare fingerprints. So their presence is checked without importing them (``missing_libraries()``, through
importlib), their versions are read from the installed distributions (``library_versions()``), and they are
imported once, guarded, only when an export runs (``_load_libraries()``). The boundary that the unit tests fake is
``missing_libraries()``, ``library_versions()`` and ``export_and_validate()``; everything else here is plain Python.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import json
import os
import sys
import time

try:
    from importlib import metadata as importlib_metadata
except ImportError:  # Python < 3.8 (the module itself needs a Python that torch supports)
    importlib_metadata = None

FINGERPRINT_FORMAT = 1
MIB = 1024 * 1024

# (import name, distribution name): what an export needs; the dynamo exporter runs on onnxscript and onnx.
EXPORT_LIBRARIES = (('torch', 'torch'), ('transformers', 'transformers'), ('onnxscript', 'onnxscript'),
                    ('onnx', 'onnx'))
# What the validation adds.
VALIDATION_LIBRARIES = (('onnxruntime', 'onnxruntime'),)
# Distributions whose version changes the exported graph (onnxruntime only checks it).
FINGERPRINT_LIBRARIES = ('torch', 'transformers', 'onnxscript', 'onnx')

DTYPES = ('float32', 'float16', 'bfloat16')


class OnnxExportError(Exception):
    """An export or validation failure, with a message for the operator and optional result fields."""

    def __init__(self, msg, **details):
        super(OnnxExportError, self).__init__(msg)
        self.details = details


# --- The library boundary ---------------------------------------------------------------------

def missing_libraries(validate=True):
    """Distribution names of the libraries that cannot be imported (none imported here)."""
    wanted = EXPORT_LIBRARIES + (VALIDATION_LIBRARIES if validate else ())
    missing = []
    for import_name, dist in wanted:
        try:
            spec = importlib.util.find_spec(import_name)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            missing.append(dist)
    return missing


def library_versions(names=FINGERPRINT_LIBRARIES):
    """Installed versions of the distributions ``names`` (None for one not installed)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib_metadata.version(name)
        except (importlib_metadata.PackageNotFoundError, AttributeError):
            versions[name] = None
    return versions


@contextlib.contextmanager
def stdout_to_stderr():
    """Send file descriptor 1 to 2 while libraries run: the module's JSON result owns stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.contextmanager
def builtin_sys_intern():
    """Give torch the builtin ``sys.intern`` while it runs.

    ansible-core's module runtime replaces ``sys.intern`` with a callable object that accepts subclasses of str;
    torch._dynamo (which the dynamo exporter uses) registers a polyfill for ``sys.intern`` and fails with
    "substitute_in_graph expects a function" on that object. The original is kept as ``unpatched_implementation``.
    """
    current = sys.intern
    original = getattr(current, 'unpatched_implementation', None)
    if original is None or original is current:
        yield
        return
    sys.intern = original
    try:
        yield
    finally:
        sys.intern = current


def _load_libraries(validate):
    """Import torch, transformers (and onnxruntime) once; never reach a model hub."""
    os.environ['HF_HUB_OFFLINE'] = '1'
    os.environ['TRANSFORMERS_OFFLINE'] = '1'
    os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
    libs = {}
    names = ['torch', 'transformers', 'onnxscript', 'onnx'] + (['onnxruntime'] if validate else [])
    for name in names:
        try:
            libs[name] = importlib.import_module(name)
        except ImportError as exc:
            raise OnnxExportError('cannot import %s: %s' % (name, exc))
    return libs


# --- Pure helpers -------------------------------------------------------------------------------

def sha256_file(path, chunk=MIB):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def model_files(model_dir):
    """Relative paths of the files of a model folder, sorted; hidden files and folders (.cache) are left out."""
    if not os.path.isdir(model_dir):
        raise OnnxExportError('model folder %s does not exist' % model_dir)
    if not os.path.isfile(os.path.join(model_dir, 'config.json')):
        raise OnnxExportError('%s has no config.json: not a Hugging Face model folder' % model_dir)
    found = []
    for root, dirs, files in os.walk(model_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        for name in files:
            if not name.startswith('.'):
                found.append(os.path.relpath(os.path.join(root, name), model_dir).replace(os.sep, '/'))
    return sorted(found)


def model_digests(model_dir):
    """{relative path: sha256} of every file of the model folder."""
    return dict((rel, sha256_file(os.path.join(model_dir, rel))) for rel in model_files(model_dir))


def build_options(params):
    """The options that change the exported graph or its validation, in canonical form."""
    return {
        'opset': params['opset'],
        'dtype': params['dtype'],
        'dynamic_batch': params['dynamic_batch'],
        'dynamic_sequence': params['dynamic_sequence'],
        'external_data': params['external_data'],
        'experts_implementation': params.get('experts_implementation') or None,
        'attn_implementation': params.get('attn_implementation') or None,
        'trust_remote_code': params['trust_remote_code'],
        'prompt': params['prompt'],
        'chat_template': params['chat_template'],
        'validation_steps': params['validation_steps'],
        'max_logit_difference': params.get('max_logit_difference'),
    }


def check_options(options):
    """Problems with a combination of options (an empty list when it is usable)."""
    problems = []
    if options['opset'] < 18:
        problems.append('opset must be 18 or higher (the dynamo exporter starts at opset 18), got %d' % options['opset'])
    if options['validation_steps'] < 0:
        problems.append('validation_steps must be 0 or more, got %d' % options['validation_steps'])
    if options['validation_steps'] > 1 and not options['dynamic_sequence']:
        problems.append('validation_steps > 1 needs dynamic_sequence=true: greedy decoding feeds a longer sequence '
                        'at every step, and a static graph only takes the prompt length')
    tolerance = options.get('max_logit_difference')
    if tolerance is not None and tolerance < 0:
        problems.append('max_logit_difference must not be negative, got %s' % tolerance)
    if not options['prompt']:
        problems.append('prompt must not be empty')
    return problems


def fingerprint(models, options, versions):
    """Fingerprint dict of the inputs; ``digest`` is the sha256 of its canonical JSON."""
    data = {
        'format': FINGERPRINT_FORMAT,
        'model': models,
        'options': options,
        'versions': versions,
    }
    data['digest'] = hashlib.sha256(json.dumps(data, sort_keys=True).encode('utf-8')).hexdigest()
    return data


def fingerprint_differences(old, new):
    """Names of the fingerprint fields that differ (empty when the export is current)."""
    if not isinstance(old, dict):
        return ['fingerprint']
    return sorted(key for key in new if key not in ('digest', 'result') and old.get(key) != new.get(key))


def output_differences(sidecar, path):
    """Why the files on disk are not the ones the sidecar recorded (empty when they are)."""
    result = sidecar.get('result') if isinstance(sidecar, dict) else None
    if not isinstance(result, dict):
        return ['result missing']
    if not os.path.isfile(path):
        return ['onnx missing']
    reasons = []
    if sha256_file(path) != result.get('sha256'):
        reasons.append('onnx changed')
    data_name = result.get('external_data')
    if data_name:
        data_path = os.path.join(os.path.dirname(os.path.abspath(path)), data_name)
        if not os.path.isfile(data_path):
            reasons.append('external data missing')
        elif sha256_file(data_path) != result.get('external_data_sha256'):
            reasons.append('external data changed')
    return reasons


def argmax(values):
    """Index of the largest value (the first one on ties, as torch.argmax and numpy.argmax)."""
    best = 0
    for index, value in enumerate(values):
        if value > values[best]:
            best = index
    return best


def greedy_compare(reference, candidate, prompt_ids, steps):
    """Decode ``steps`` tokens greedily with two engines and compare them.

    ``reference`` and ``candidate`` take a list of token ids and return the logits of the last position (a
    sequence of floats). Each engine is fed its own tokens, so the two sequences are independent greedy decodings.
    The logit difference is measured while the two prefixes are still equal. Returns a dict with
    ``tokens`` (reference), ``candidate_tokens``, ``max_logit_difference`` and ``first_mismatch`` (None or the step).
    """
    ref_ids = list(prompt_ids)
    cand_ids = list(prompt_ids)
    tokens, cand_tokens = [], []
    max_diff = 0.0
    first_mismatch = None
    for step in range(steps):
        ref_logits = list(reference(ref_ids))
        cand_logits = list(candidate(cand_ids))
        if len(ref_logits) != len(cand_logits):
            raise OnnxExportError('step %d: PyTorch returns %d logits, onnxruntime %d'
                                  % (step, len(ref_logits), len(cand_logits)))
        if first_mismatch is None:
            max_diff = max([max_diff] + [abs(a - b) for a, b in zip(ref_logits, cand_logits)])
        ref_token, cand_token = argmax(ref_logits), argmax(cand_logits)
        if ref_token != cand_token and first_mismatch is None:
            first_mismatch = step
        tokens.append(ref_token)
        cand_tokens.append(cand_token)
        ref_ids.append(ref_token)
        cand_ids.append(cand_token)
    return {'tokens': tokens, 'candidate_tokens': cand_tokens, 'max_logit_difference': float(max_diff),
            'first_mismatch': first_mismatch}


def validation_failures(comparison, options):
    """Messages for a comparison that does not pass (empty when it does)."""
    failures = []
    if comparison['first_mismatch'] is not None:
        failures.append('onnxruntime chose other greedy tokens than PyTorch from step %d: PyTorch %s, onnxruntime %s'
                        % (comparison['first_mismatch'], comparison['tokens'], comparison['candidate_tokens']))
    tolerance = options.get('max_logit_difference')
    if tolerance is not None and comparison['max_logit_difference'] > tolerance:
        failures.append('largest logit difference %.6g is above max_logit_difference %.6g'
                        % (comparison['max_logit_difference'], tolerance))
    return failures


# --- The export ---------------------------------------------------------------------------------

def _prompt_ids(tokenizer, options):
    if options['chat_template'] and getattr(tokenizer, 'chat_template', None):
        text = tokenizer.apply_chat_template([{'role': 'user', 'content': options['prompt']}],
                                             add_generation_prompt=True, tokenize=False)
        ids = tokenizer(text, add_special_tokens=False)['input_ids']
    else:
        ids = tokenizer(options['prompt'])['input_ids']
    return [int(i) for i in ids]


def _load_model(libs, model_dir, options):
    torch, transformers = libs['torch'], libs['transformers']
    kwargs = {'local_files_only': True, 'dtype': getattr(torch, options['dtype']),
              'trust_remote_code': options['trust_remote_code']}
    if options['experts_implementation']:
        kwargs['experts_implementation'] = options['experts_implementation']
    if options['attn_implementation']:
        kwargs['attn_implementation'] = options['attn_implementation']
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True,
                                                               trust_remote_code=options['trust_remote_code'])
        model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise OnnxExportError('transformers cannot load the model in %s: %s' % (model_dir, exc))
    model.eval()
    return tokenizer, model


def _logits_module(torch, model):
    """input_ids -> logits, without a KV cache: the graph the exporter traces."""

    class CausalLMLogits(torch.nn.Module):
        def __init__(self, inner):
            super(CausalLMLogits, self).__init__()
            self.inner = inner

        def forward(self, input_ids):
            return self.inner(input_ids=input_ids, use_cache=False).logits

    wrapper = CausalLMLogits(model)
    wrapper.eval()
    return wrapper


def _export(libs, wrapper, prompt_ids, dest, options):
    torch = libs['torch']
    # A dynamic dimension of size 1 in the example would be specialised to 1: trace with a batch of two.
    batch = 2 if options['dynamic_batch'] else 1
    example = torch.tensor([prompt_ids] * batch, dtype=torch.int64)
    axes = {}
    if options['dynamic_batch']:
        axes[0] = 'batch'
    if options['dynamic_sequence']:
        axes[1] = 'sequence'
    try:
        torch.onnx.export(wrapper, (example,), dest, dynamo=True, opset_version=options['opset'],
                          input_names=['input_ids'], output_names=['logits'],
                          dynamic_shapes={'input_ids': axes} if axes else None,
                          external_data=options['external_data'], verbose=False)
    except Exception as exc:  # the exporter raises many kinds; the operator needs the message
        raise OnnxExportError('torch.onnx.export (dynamo) failed: %s: %s' % (type(exc).__name__, exc))
    if not os.path.isfile(dest):
        raise OnnxExportError('torch.onnx.export wrote no file at %s' % dest)


def export_and_validate(model_dir, workdir, basename, options):
    """Export ``model_dir`` to ``workdir/basename`` (plus external data) and validate it with onnxruntime.

    Returns a dict: prompt_ids, tokens (PyTorch), onnxruntime_tokens, max_logit_difference, batch_check,
    export_seconds, validation_seconds, versions (with onnxruntime). Raises OnnxExportError, with the comparison in
    ``details``, when the export fails or onnxruntime does not reproduce PyTorch's greedy tokens.
    """
    validate = options['validation_steps'] > 0
    result = {}
    with stdout_to_stderr(), builtin_sys_intern():
        libs = _load_libraries(validate)
        torch = libs['torch']
        tokenizer, model = _load_model(libs, model_dir, options)
        prompt_ids = _prompt_ids(tokenizer, options)
        if options['dynamic_sequence'] and len(prompt_ids) < 2:
            raise OnnxExportError('the prompt is %d token(s); a dynamic sequence axis needs an example of at '
                                  'least 2 tokens' % len(prompt_ids))
        result['prompt_ids'] = prompt_ids
        wrapper = _logits_module(torch, model)
        dest = os.path.join(workdir, basename)
        started = time.time()
        _export(libs, wrapper, prompt_ids, dest, options)
        result['export_seconds'] = round(time.time() - started, 3)
        result['versions'] = library_versions(FINGERPRINT_LIBRARIES + ('onnxruntime',))
        if not validate:
            return result

        started = time.time()
        ort = libs['onnxruntime']
        numpy = importlib.import_module('numpy')
        try:
            session = ort.InferenceSession(dest, providers=['CPUExecutionProvider'])
        except Exception as exc:  # onnxruntime raises its own exception classes
            raise OnnxExportError('onnxruntime cannot load %s: %s' % (dest, exc))

        def reference(ids):
            with torch.no_grad():
                logits = wrapper(torch.tensor([ids], dtype=torch.int64))
            return logits[0, -1].float().tolist()

        def candidate(ids):
            logits = session.run(['logits'], {'input_ids': numpy.array([ids], dtype=numpy.int64)})[0]
            return logits[0, -1].astype(numpy.float64).tolist()

        try:
            comparison = greedy_compare(reference, candidate, prompt_ids, options['validation_steps'])
        except OnnxExportError:
            raise
        except Exception as exc:  # onnxruntime raises its own exception classes
            raise OnnxExportError('onnxruntime failed to run %s: %s' % (dest, exc))
        result.update(tokens=comparison['tokens'], onnxruntime_tokens=comparison['candidate_tokens'],
                      max_logit_difference=comparison['max_logit_difference'])
        if options['dynamic_batch']:
            # The same prompt twice in one batch: both rows must pick PyTorch's first token.
            rows = session.run(['logits'], {'input_ids': numpy.array([prompt_ids] * 3, dtype=numpy.int64)})[0]
            result['batch_check'] = [int(numpy.argmax(row[-1])) for row in rows] == [comparison['tokens'][0]] * 3
        result['validation_seconds'] = round(time.time() - started, 3)
        failures = validation_failures(comparison, options)
        if options['dynamic_batch'] and not result['batch_check']:
            failures.append('a batch of 3 copies of the prompt does not give PyTorch\'s first token in every row')
        if failures:
            raise OnnxExportError('; '.join(failures), **result)
    return result
