# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Serving planner: does a model fit a tier, with which parallel sizes and which context length.

Pure functions, no Ansible import, so that the filter plugin, a module or a test can call them.
The memory model (see the ``serving_plan`` filter's notes, which describe the same constants):

* usable memory per GPU = memory_total * gpu_memory_utilization (vLLM's own budget);
* weights per GPU = params_total * bytes_per_param(quantisation) * ceil(layers / PP) / layers / TP;
* reserve per GPU = RESERVE_FIXED (CUDA context, NCCL buffers, CUDA graphs, sampler)
  + activation peak of one prefill chunk: max_num_batched_tokens * hidden * 2 bytes * ACTIVATION_FACTOR / TP;
* KV budget per GPU = usable - weights - reserve;
* KV bytes per token per GPU:
  MLA (DeepSeek-V2/V3): (kv_lora_rank + qk_rope_head_dim) * layers_per_stage * kv_bytes; the compressed latent
  is replicated on every TP rank (not split);
  standard (MHA/GQA): 2 * kv_heads_per_rank * head_dim * layers_per_stage * kv_bytes with
  kv_heads_per_rank = max(1, kv_heads / TP);
* max_model_len = KV budget / KV bytes per token, rounded down to the KV block size, capped at the model's context.
"""

from __future__ import annotations

import math

GIB = 1024 ** 3
MIB = 1024 ** 2

# Bytes per parameter of the stored weights.
BYTES_PER_PARAM = {
    'fp32': 4.0,
    'bf16': 2.0,
    'fp16': 2.0,
    'fp8': 1.0,
    'int8': 1.0,
    'awq': 0.5,
    'gptq': 0.5,
    'int4': 0.5,
}
# Weights that quantisation keeps in 16 bit (embeddings, norms, router) and the scales/zero points it adds.
QUANT_OVERHEAD = {'fp8': 1.03, 'int8': 1.03, 'awq': 1.10, 'gptq': 1.10, 'int4': 1.10}
# Compute dtype of a quantised model: activations and, by default, the KV cache.
COMPUTE_BYTES = 2
# Minimum CUDA compute capability per quantisation / dtype.
MIN_COMPUTE_CAPABILITY = {
    'fp32': (7, 0),
    'fp16': (7, 0),
    'bf16': (8, 0),
    'fp8': (8, 9),
    'int8': (7, 5),
    'awq': (7, 5),
    'gptq': (7, 5),
    'int4': (7, 5),
}
QUANTISATIONS = tuple(sorted(BYTES_PER_PARAM))

RESERVE_FIXED_BYTES = int(1.5 * GIB)
ACTIVATION_FACTOR = 18
MAX_NUM_BATCHED_TOKENS = 8192
KV_BLOCK_SIZE = 16
DEFAULT_GPU_MEMORY_UTILIZATION = 0.90
DEFAULT_MIN_MODEL_LEN = 4096

# CPU tier (vllm_cpu): resident memory of the engine without weights and KV (measured ~2.7 GiB RSS with a 5 MB model)
# and what is left to the operating system and the other services.
CPU_RUNTIME_RESERVE_BYTES = int(3 * GIB)
CPU_OS_RESERVE_FRACTION = 0.10
CPU_OS_RESERVE_MIN_BYTES = 1 * GIB
CPU_DEFAULT_MAX_NUM_SEQS = 8
CPU_MAX_KVCACHE_SPACE_GIB = 4
CPU_QUANTISATIONS = ('bf16', 'fp16', 'fp32', 'awq', 'gptq', 'int4')

MAX_SUGGESTED_NODES = 8

# Well-known tiers for the "a bigger tier" suggestion: (label, gpu name, memory_total_mib, compute capability, count).
TIERS = (
    ('4x NVIDIA A30 24GB', 'NVIDIA A30', 24576, '8.0', 4),
    ('4x NVIDIA L40S 48GB', 'NVIDIA L40S', 46068, '8.9', 4),
    ('4x NVIDIA H100 80GB', 'NVIDIA H100 80GB HBM3', 81559, '9.0', 4),
    ('8x NVIDIA H100 80GB', 'NVIDIA H100 80GB HBM3', 81559, '9.0', 8),
    ('8x NVIDIA H200 141GB', 'NVIDIA H200', 143771, '9.0', 8),
)

_QWEN2 = dict(architecture='Qwen2ForCausalLM', vocab_size=152064, max_position_embeddings=131072, head_dim=128,
              mla=False, experts=0, experts_per_token=0, native_dtype='bf16')
_LLAMA3 = dict(architecture='LlamaForCausalLM', vocab_size=128256, max_position_embeddings=131072, head_dim=128,
               mla=False, experts=0, experts_per_token=0, native_dtype='bf16')
_DEEPSEEK_V3 = dict(architecture='DeepseekV3ForCausalLM', vocab_size=129280, max_position_embeddings=163840,
                    hidden_size=7168, num_layers=61, num_attention_heads=128, num_kv_heads=128, head_dim=192,
                    mla=True, kv_lora_rank=512, qk_rope_head_dim=64, experts=256, experts_per_token=8,
                    shared_experts=1, params_total=671e9, params_active=37e9, native_dtype='fp8')

# Catalogue of the models the collection knows (values of their Hugging Face config.json; parameter counts of the
# model cards; the 671B count excludes the 14B multi-token-prediction module that vLLM does not load by default).
CATALOGUE = {
    'deepseek-v3': dict(_DEEPSEEK_V3, name='DeepSeek-V3', hf_id='deepseek-ai/DeepSeek-V3'),
    'deepseek-r1': dict(_DEEPSEEK_V3, name='DeepSeek-R1', hf_id='deepseek-ai/DeepSeek-R1'),
    'deepseek-r1-distill-qwen-1.5b': dict(
        _QWEN2, name='DeepSeek-R1-Distill-Qwen-1.5B', hf_id='deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B',
        vocab_size=151936, params_total=1.78e9, hidden_size=1536, num_layers=28, num_attention_heads=12,
        num_kv_heads=2),
    'deepseek-r1-distill-qwen-7b': dict(
        _QWEN2, name='DeepSeek-R1-Distill-Qwen-7B', hf_id='deepseek-ai/DeepSeek-R1-Distill-Qwen-7B',
        params_total=7.62e9, hidden_size=3584, num_layers=28, num_attention_heads=28, num_kv_heads=4),
    'deepseek-r1-distill-qwen-14b': dict(
        _QWEN2, name='DeepSeek-R1-Distill-Qwen-14B', hf_id='deepseek-ai/DeepSeek-R1-Distill-Qwen-14B',
        params_total=14.8e9, hidden_size=5120, num_layers=48, num_attention_heads=40, num_kv_heads=8),
    'deepseek-r1-distill-qwen-32b': dict(
        _QWEN2, name='DeepSeek-R1-Distill-Qwen-32B', hf_id='deepseek-ai/DeepSeek-R1-Distill-Qwen-32B',
        params_total=32.8e9, hidden_size=5120, num_layers=64, num_attention_heads=40, num_kv_heads=8),
    'deepseek-r1-distill-llama-8b': dict(
        _LLAMA3, name='DeepSeek-R1-Distill-Llama-8B', hf_id='deepseek-ai/DeepSeek-R1-Distill-Llama-8B',
        params_total=8.03e9, hidden_size=4096, num_layers=32, num_attention_heads=32, num_kv_heads=8),
    'deepseek-r1-distill-llama-70b': dict(
        _LLAMA3, name='DeepSeek-R1-Distill-Llama-70B', hf_id='deepseek-ai/DeepSeek-R1-Distill-Llama-70B',
        params_total=70.6e9, hidden_size=8192, num_layers=80, num_attention_heads=64, num_kv_heads=8),
    # The sandbox model of tests/tools/make_tiny_model.py.
    'deepseek-v3-tiny': dict(
        _DEEPSEEK_V3, name='DeepSeek-V3-tiny (sandbox)', hf_id=None, vocab_size=512, max_position_embeddings=4096,
        hidden_size=128, num_layers=2, num_attention_heads=2, num_kv_heads=2, head_dim=192, experts=4,
        experts_per_token=2, params_total=1157376, params_active=1108224, native_dtype='bf16'),
}
ALIASES = {
    'deepseek-ai/deepseek-v3': 'deepseek-v3',
    'deepseek-ai/deepseek-r1': 'deepseek-r1',
    'deepseek-v3-671b': 'deepseek-v3',
    'deepseek-r1-671b': 'deepseek-r1',
    'tiny': 'deepseek-v3-tiny',
}


class PlanError(ValueError):
    """The input is not usable (unknown model, missing key, wrong type); not a refusal."""


def _gib(value):
    return '%.1f GiB' % (value / float(GIB))


def _num(value, what, cast=float):
    if isinstance(value, bool):
        raise PlanError('%s must be a number, got %r' % (what, value))
    try:
        return cast(value)
    except (TypeError, ValueError):
        raise PlanError('%s must be a number, got %r' % (what, value))


def catalogue_names():
    return sorted(CATALOGUE)


def normalise_quantisation(value):
    if value in (None, ''):
        return None
    text = str(value).lower().replace('-', '').replace('_', '')
    mapping = {'bfloat16': 'bf16', 'float16': 'fp16', 'half': 'fp16', 'float32': 'fp32', 'float': 'fp32',
               'fp8': 'fp8', 'fbgemmfp8': 'fp8', 'float8': 'fp8', 'awq': 'awq', 'awqmarlin': 'awq', 'gptq': 'gptq',
               'gptqmarlin': 'gptq', 'int4': 'int4', 'bitsandbytes': 'int4', 'w4a16': 'int4', 'int8': 'int8',
               'w8a8': 'int8', 'bf16': 'bf16', 'fp16': 'fp16', 'fp32': 'fp32'}
    if text not in mapping:
        raise PlanError('unknown dtype/quantisation %r (known: %s)' % (value, ', '.join(QUANTISATIONS)))
    return mapping[text]


def model_from_hf_config(config, params_total, params_active=None, name=None):
    """Normalise a Hugging Face config.json (a dict) plus a parameter count."""
    if not isinstance(config, dict):
        raise PlanError('model config must be a mapping (the content of config.json)')
    if params_total in (None, ''):
        raise PlanError('params_total is required with a config.json (the parameter count of the model)')
    text = config.get('text_config')
    if isinstance(text, dict):
        config = dict(config, **text)
    for key in ('num_hidden_layers', 'hidden_size', 'num_attention_heads'):
        if key not in config:
            raise PlanError('config.json lacks %s' % key)
    heads = _num(config['num_attention_heads'], 'num_attention_heads', int)
    hidden = _num(config['hidden_size'], 'hidden_size', int)
    kv_lora_rank = config.get('kv_lora_rank')
    mla = kv_lora_rank not in (None, 0)
    experts = config.get('n_routed_experts') or config.get('num_experts') or config.get('num_local_experts') or 0
    quant = config.get('quantization_config') or {}
    native = None
    if isinstance(quant, dict) and quant.get('quant_method'):
        method = str(quant['quant_method']).lower()
        if method in ('gptq', 'awq') and quant.get('bits') not in (None, 4):
            native = 'int8' if quant.get('bits') == 8 else None
        else:
            native = normalise_quantisation(method)
    if native is None:
        native = normalise_quantisation(config.get('torch_dtype') or config.get('dtype') or 'bf16')
    architectures = config.get('architectures') or [config.get('model_type', 'unknown')]
    return {
        'name': name or config.get('_name_or_path') or architectures[0],
        'hf_id': None,
        'architecture': architectures[0],
        'params_total': _num(params_total, 'params_total'),
        'params_active': _num(params_active, 'params_active') if params_active not in (None, '') else None,
        'num_layers': _num(config['num_hidden_layers'], 'num_hidden_layers', int),
        'hidden_size': hidden,
        'num_attention_heads': heads,
        'num_kv_heads': _num(config.get('num_key_value_heads') or heads, 'num_key_value_heads', int),
        'head_dim': _num(config.get('head_dim') or hidden // heads, 'head_dim', int),
        'mla': mla,
        'kv_lora_rank': _num(kv_lora_rank, 'kv_lora_rank', int) if mla else None,
        'qk_rope_head_dim': _num(config.get('qk_rope_head_dim') or 0, 'qk_rope_head_dim', int) if mla else None,
        'experts': _num(experts, 'n_routed_experts', int),
        'experts_per_token': _num(config.get('num_experts_per_tok') or 0, 'num_experts_per_tok', int),
        'vocab_size': _num(config.get('vocab_size') or 0, 'vocab_size', int),
        'max_position_embeddings': _num(config.get('max_position_embeddings') or DEFAULT_MIN_MODEL_LEN,
                                        'max_position_embeddings', int),
        'native_dtype': native,
    }


def resolve_model(model):
    """A catalogue name, a dict with ``config`` (config.json) and ``params_total``, or a normalised dict."""
    if isinstance(model, str):
        key = model.strip().lower()
        key = ALIASES.get(key, key)
        if key.startswith('deepseek-ai/'):
            key = key[len('deepseek-ai/'):]
        if key not in CATALOGUE:
            raise PlanError('unknown model %r; known: %s (or pass a dict with config and params_total)'
                            % (model, ', '.join(catalogue_names())))
        return dict(CATALOGUE[key], catalogue=key)
    if not isinstance(model, dict):
        raise PlanError('model must be a catalogue name or a mapping, got %s' % type(model).__name__)
    if 'config' in model:
        return model_from_hf_config(model['config'], model.get('params_total'), model.get('params_active'),
                                    model.get('name'))
    required = ('params_total', 'num_layers', 'hidden_size', 'num_attention_heads')
    missing = [key for key in required if key not in model]
    if missing:
        raise PlanError('model mapping lacks %s' % ', '.join(missing))
    heads = _num(model['num_attention_heads'], 'num_attention_heads', int)
    hidden = _num(model['hidden_size'], 'hidden_size', int)
    mla = model.get('kv_lora_rank') not in (None, 0)
    return {
        'name': model.get('name', 'custom'),
        'hf_id': model.get('hf_id'),
        'architecture': model.get('architecture', 'unknown'),
        'params_total': _num(model['params_total'], 'params_total'),
        'params_active': model.get('params_active'),
        'num_layers': _num(model['num_layers'], 'num_layers', int),
        'hidden_size': hidden,
        'num_attention_heads': heads,
        'num_kv_heads': _num(model.get('num_kv_heads') or heads, 'num_kv_heads', int),
        'head_dim': _num(model.get('head_dim') or hidden // heads, 'head_dim', int),
        'mla': mla,
        'kv_lora_rank': _num(model['kv_lora_rank'], 'kv_lora_rank', int) if mla else None,
        'qk_rope_head_dim': _num(model.get('qk_rope_head_dim') or 0, 'qk_rope_head_dim', int) if mla else None,
        'experts': _num(model.get('experts') or 0, 'experts', int),
        'experts_per_token': _num(model.get('experts_per_token') or 0, 'experts_per_token', int),
        'vocab_size': _num(model.get('vocab_size') or 0, 'vocab_size', int),
        'max_position_embeddings': _num(model.get('max_position_embeddings') or DEFAULT_MIN_MODEL_LEN,
                                        'max_position_embeddings', int),
        'native_dtype': normalise_quantisation(model.get('native_dtype') or 'bf16'),
    }


def _parse_cc(value):
    if value in (None, ''):
        return None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return (int(value[0]), int(value[1]))
    parts = str(value).split('.')
    try:
        return (int(parts[0]), int(parts[1]) if len(parts) > 1 else 0)
    except ValueError:
        raise PlanError('compute capability %r is not MAJOR.MINOR' % (value,))


def resolve_hardware(hardware):
    """Accept nvml_info's result, its ``gpus`` list, or nothing (CPU tier). Returns the GPU view of one node."""
    if hardware in (None, '', {}):
        gpus = []
        nvswitch = False
    elif isinstance(hardware, dict):
        gpus = hardware.get('gpus') or []
        nvswitch = bool(hardware.get('nvswitch_present'))
    elif isinstance(hardware, list):
        gpus = hardware
        nvswitch = False
    else:
        raise PlanError('hardware must be the nvml_info result or its gpus list, got %s' % type(hardware).__name__)
    usable = []
    for gpu in gpus:
        if not isinstance(gpu, dict):
            raise PlanError('each GPU must be a mapping with memory_total_mib, got %r' % (gpu,))
        if gpu.get('error'):
            continue
        mib = gpu.get('memory_total_mib')
        if mib is None and gpu.get('memory_total_bytes') is not None:
            mib = int(gpu['memory_total_bytes']) // MIB
        if mib is None:
            raise PlanError('GPU %s has no memory_total_mib' % gpu.get('index', '?'))
        usable.append({'name': gpu.get('name') or 'GPU', 'memory_total_mib': int(mib),
                       'cc': _parse_cc(gpu.get('compute_capability')),
                       'nvlink': bool(gpu.get('nvlink_active_links'))})
    if not usable:
        return {'gpu_count': 0, 'gpu_name': None, 'memory_total_mib': 0, 'cc': None, 'nvlink': False,
                'nvswitch': False, 'mixed': False, 'skipped': len(gpus)}
    ccs = [gpu['cc'] for gpu in usable if gpu['cc'] is not None]
    smallest = min(usable, key=lambda gpu: gpu['memory_total_mib'])
    return {
        'gpu_count': len(usable),
        'gpu_name': smallest['name'],
        'memory_total_mib': smallest['memory_total_mib'],
        'cc': min(ccs) if ccs else None,
        'nvlink': nvswitch or all(gpu['nvlink'] for gpu in usable),
        'nvswitch': nvswitch,
        'mixed': len(set((gpu['name'], gpu['memory_total_mib']) for gpu in usable)) > 1,
        'skipped': len(gpus) - len(usable),
    }


def weight_bytes(model, quant):
    return model['params_total'] * BYTES_PER_PARAM[quant] * QUANT_OVERHEAD.get(quant, 1.0)


def kv_bytes_per_element(quant, kv_cache_dtype):
    if kv_cache_dtype in ('fp8', 'fp8_e4m3', 'fp8_e5m2'):
        return 1
    if kv_cache_dtype not in (None, '', 'auto'):
        raise PlanError('kv_cache_dtype must be auto or fp8, got %r' % (kv_cache_dtype,))
    return 4 if quant == 'fp32' else COMPUTE_BYTES


def kv_bytes_per_token(model, kv_bytes, tp=1, layers=None):
    """KV cache bytes per token on one GPU (one TP rank of one pipeline stage)."""
    layers = model['num_layers'] if layers is None else layers
    if model['mla']:
        return (model['kv_lora_rank'] + model['qk_rope_head_dim']) * layers * kv_bytes
    heads_per_rank = max(1, model['num_kv_heads'] // tp)
    return 2 * heads_per_rank * model['head_dim'] * layers * kv_bytes


def tp_problem(model, tp, gpus_per_node):
    """Why a tensor-parallel size is not allowed, or None."""
    if tp < 1 or tp & (tp - 1):
        return 'tensor_parallel_size %d is not a power of two' % tp
    if tp > gpus_per_node:
        return 'tensor_parallel_size %d is larger than the %d GPU(s) of a node' % (tp, gpus_per_node)
    if model['num_attention_heads'] % tp:
        return 'tensor_parallel_size %d does not divide the %d attention heads' % (tp, model['num_attention_heads'])
    kv_heads = model['num_kv_heads']
    if not model['mla'] and kv_heads % tp and tp % kv_heads:
        return 'tensor_parallel_size %d and the %d KV heads do not divide one another' % (tp, kv_heads)
    return None


def _round_block(tokens):
    return int(tokens) // KV_BLOCK_SIZE * KV_BLOCK_SIZE


def gpu_layout(model, quant, hw, tp, pp, gpu_memory_utilization, kv_cache_dtype):
    """Memory of one GPU for a TP x PP layout."""
    usable = hw['memory_total_mib'] * MIB * gpu_memory_utilization
    layers_per_stage = int(math.ceil(model['num_layers'] / float(pp)))
    weights = weight_bytes(model, quant) * layers_per_stage / model['num_layers'] / tp
    activation = MAX_NUM_BATCHED_TOKENS * model['hidden_size'] * COMPUTE_BYTES * ACTIVATION_FACTOR / tp
    reserve = RESERVE_FIXED_BYTES + activation
    kv_budget = usable - weights - reserve
    per_token = kv_bytes_per_token(model, kv_bytes_per_element(quant, kv_cache_dtype), tp, layers_per_stage)
    tokens = _round_block(kv_budget / per_token) if kv_budget > 0 else 0
    return {'usable': usable, 'weights': weights, 'reserve': reserve, 'kv_budget': kv_budget,
            'kv_per_token': per_token, 'kv_tokens': tokens}


def compute_dtype(quant, cc):
    """vLLM's --dtype: the stored dtype, or for a quantised model bf16 (fp16 below compute capability 8.0)."""
    if quant in ('bf16', 'fp16', 'fp32'):
        return {'bf16': 'bfloat16', 'fp16': 'float16', 'fp32': 'float32'}[quant]
    return 'float16' if cc is not None and cc < (8, 0) else 'bfloat16'


def _base_result(model, quant, backend, cc=None):
    return {
        'fits': False,
        'backend': backend,
        'model': model['name'],
        'architecture': model['architecture'],
        'quantization': quant,
        'dtype': compute_dtype(quant, cc),
        'vllm_quantization': quant if quant in ('fp8', 'awq', 'gptq') else None,
        'mla': model['mla'],
        'moe': model['experts'] > 0,
        'tensor_parallel_size': None,
        'pipeline_parallel_size': None,
        'data_parallel_size': None,
        'enable_expert_parallel': False,
        'expert_parallel_size': None,
        'nodes_used': None,
        'replicas': None,
        'gpu_count': 0,
        'gpus_used': 0,
        'gpu_memory_utilization': None,
        'max_model_len': None,
        'kv_cache_tokens': None,
        'max_full_length_sequences': None,
        'cpu_kvcache_space_gib': None,
        'weights_gib_total': round(weight_bytes(model, quant) / GIB, 2),
        'weights_gib_per_gpu': None,
        'reserve_gib_per_gpu': None,
        'kv_budget_gib_per_gpu': None,
        'usable_gib_per_gpu': None,
        'kv_bytes_per_token': None,
        'reasons': [],
        'suggestions': [],
        'warnings': [],
        'message': '',
    }


def _quant_problem(quant, hw):
    cc = hw['cc']
    need = MIN_COMPUTE_CAPABILITY[quant]
    if cc is None or cc >= need:
        return None
    alt = 'awq or gptq (4-bit)' if quant == 'fp8' else ('fp16' if quant == 'bf16' else 'a different quantisation')
    return ('%s needs compute capability >= %d.%d; %s is %d.%d: use %s'
            % (quant, need[0], need[1], hw['gpu_name'], cc[0], cc[1], alt))


def _plan_cpu(model, quant, opts):
    result = _base_result(model, quant, 'vllm_cpu')
    result.update(tensor_parallel_size=1, pipeline_parallel_size=1, data_parallel_size=1, nodes_used=1,
                  replicas=opts['nodes'])
    host_mib = opts.get('host_memory_mib')
    if quant not in CPU_QUANTISATIONS:
        result['reasons'].append('%s is not served by vllm_cpu (CPU tier serves %s)' % (quant, ', '.join(CPU_QUANTISATIONS)))
    if host_mib in (None, ''):
        result['reasons'].append('no GPU and no host_memory_mib given: cannot size the CPU tier')
    if result['reasons']:
        return _finish(result)
    host = int(host_mib) * MIB
    weights = weight_bytes(model, quant)
    per_token = kv_bytes_per_token(model, kv_bytes_per_element(quant, opts['kv_cache_dtype']), 1)
    target = opts['max_model_len'] or model['max_position_embeddings']
    if opts['cpu_kvcache_space_gib']:
        kv_space = int(opts['cpu_kvcache_space_gib'])
    else:
        wanted = per_token * target * CPU_DEFAULT_MAX_NUM_SEQS
        kv_space = max(1, min(CPU_MAX_KVCACHE_SPACE_GIB, int(math.ceil(wanted / float(GIB)))))
    os_reserve = max(CPU_OS_RESERVE_MIN_BYTES, host * CPU_OS_RESERVE_FRACTION)
    needed = weights + kv_space * GIB + CPU_RUNTIME_RESERVE_BYTES + os_reserve
    tokens = _round_block(kv_space * GIB / per_token)
    result.update(kv_bytes_per_token=per_token, kv_cache_tokens=tokens, cpu_kvcache_space_gib=kv_space,
                  weights_gib_per_gpu=None, reserve_gib_per_gpu=None,
                  host_memory_needed_gib=round(needed / GIB, 2), host_memory_gib=round(host / GIB, 2))
    if needed > host:
        result['reasons'].append(
            'the CPU tier needs %s (weights %s, KV cache %d GiB, engine %s, OS %s) and the host has %s'
            % (_gib(needed), _gib(weights), kv_space, _gib(CPU_RUNTIME_RESERVE_BYTES), _gib(os_reserve), _gib(host)))
        return _finish(result)
    allowed = min(tokens, model['max_position_embeddings'])
    if opts['max_model_len'] and opts['max_model_len'] > allowed:
        result['max_model_len'] = allowed
        result['reasons'].append('operator override refused: max_model_len %d is above what the CPU KV cache (%d GiB) allows: %d'
                                 % (opts['max_model_len'], kv_space, allowed))
        return _finish(result)
    result['max_model_len'] = min(target, allowed)
    result['max_full_length_sequences'] = tokens // result['max_model_len']
    result['fits'] = True
    return _finish(result)


def _fill_gpu(result, model, quant, hw, tp, pp, nodes, layout, max_model_len):
    dp = hw['gpu_count'] // tp if pp == 1 else 1
    moe = model['experts'] > 0
    result.update(
        tensor_parallel_size=tp, pipeline_parallel_size=pp, data_parallel_size=dp,
        nodes_used=pp, replicas=nodes // pp, gpus_used=tp * pp * dp,
        enable_expert_parallel=bool(moe and tp > 1), expert_parallel_size=(tp if moe and tp > 1 else None),
        weights_gib_per_gpu=round(layout['weights'] / GIB, 2), reserve_gib_per_gpu=round(layout['reserve'] / GIB, 2),
        kv_budget_gib_per_gpu=round(max(layout['kv_budget'], 0) / GIB, 2),
        usable_gib_per_gpu=round(layout['usable'] / GIB, 2), kv_bytes_per_token=layout['kv_per_token'],
        kv_cache_tokens=layout['kv_tokens'], max_model_len=max_model_len,
        max_full_length_sequences=(layout['kv_tokens'] // max_model_len if max_model_len else None))


def _plan_gpu(model, quant, hw, opts):
    result = _base_result(model, quant, opts['gpu_backend'], hw['cc'])
    nodes = opts['nodes']
    gpn = hw['gpu_count']
    result.update(gpu_count=gpn, gpu_memory_utilization=opts['gpu_memory_utilization'])
    if hw['mixed']:
        result['warnings'].append('the GPUs differ; planned with the smallest (%s, %d MiB)'
                                  % (hw['gpu_name'], hw['memory_total_mib']))
    if hw['cc'] is None:
        result['warnings'].append('compute capability unknown: dtype support not checked')
    problem = _quant_problem(quant, hw)
    if problem:
        result['reasons'].append(problem)
        return result
    min_len = min(opts['min_model_len'], model['max_position_embeddings'])
    target = opts['max_model_len'] or model['max_position_embeddings']
    if opts['tensor_parallel_size']:
        tps = [int(opts['tensor_parallel_size'])]
        problem = tp_problem(model, tps[0], gpn)
        if problem:
            result['reasons'].append('operator override refused: ' + problem)
            return result
    else:
        tps = [tp for tp in (1, 2, 4, 8, 16, 32, 64) if tp_problem(model, tp, gpn) is None]
    if opts['pipeline_parallel_size']:
        pps = [int(opts['pipeline_parallel_size'])]
        if pps[0] > nodes:
            result['reasons'].append('operator override refused: pipeline_parallel_size %d needs %d nodes, %d given'
                                     % (pps[0], pps[0], nodes))
            return result
        if pps[0] < 1 or pps[0] > model['num_layers']:
            result['reasons'].append('operator override refused: pipeline_parallel_size %d is not within 1..%d layers'
                                     % (pps[0], model['num_layers']))
            return result
    else:
        pps = [pp for pp in range(1, nodes + 1) if pp <= model['num_layers']]
    candidates = []
    for pp in pps:
        for tp in tps:
            layout = gpu_layout(model, quant, hw, tp, pp, opts['gpu_memory_utilization'], opts['kv_cache_dtype'])
            allowed = min(layout['kv_tokens'], model['max_position_embeddings'])
            candidates.append((pp, tp, layout, allowed))
    # Smallest layout (fewest nodes, then fewest GPUs) that holds the target context; else the one that holds most.
    chosen = None
    for pp, tp, layout, allowed in candidates:
        if allowed >= target:
            chosen = (pp, tp, layout, allowed)
            break
    if chosen is None:
        fitting = [cand for cand in candidates if cand[3] >= min_len]
        if fitting:
            chosen = max(fitting, key=lambda cand: (cand[3], -cand[0], -cand[1]))
    if chosen is None:
        pp, tp, layout, allowed = max(candidates, key=lambda cand: (cand[2]['kv_budget'], -cand[0]))
        _fill_gpu(result, model, quant, hw, tp, pp, nodes, layout, None)
        if layout['kv_budget'] <= 0:
            result['reasons'].append(
                '%s in %s needs %s of weights; %d node(s) x %dx %s give %s per GPU at gpu_memory_utilization %.2f, '
                'and with TP=%d PP=%d each GPU would hold %s of weights + %s reserve'
                % (model['name'], quant, _gib(weight_bytes(model, quant)), nodes, gpn, hw['gpu_name'],
                   _gib(layout['usable']), opts['gpu_memory_utilization'], tp, pp, _gib(layout['weights']),
                   _gib(layout['reserve'])))
        else:
            result['reasons'].append(
                'the KV cache left after the weights holds %d tokens with TP=%d PP=%d, less than the minimum context %d'
                % (allowed, tp, pp, min_len))
        return result
    pp, tp, layout, allowed = chosen
    max_len = min(target, allowed)
    _fill_gpu(result, model, quant, hw, tp, pp, nodes, layout, max_len)
    if opts['max_model_len'] and opts['max_model_len'] > allowed:
        result['reasons'].append('operator override refused: max_model_len %d needs %s of KV cache per GPU, '
                                 'the memory allows %d tokens with TP=%d PP=%d'
                                 % (opts['max_model_len'], _gib(opts['max_model_len'] * layout['kv_per_token']),
                                    allowed, tp, pp))
        return result
    if max_len < target:
        result['warnings'].append('context limited by memory to %d tokens (model: %d)'
                                  % (max_len, model['max_position_embeddings']))
    if pp > 1 and not opts['tensor_parallel_size'] and tp < gpn:
        result['warnings'].append('pipeline parallel over %d nodes with TP=%d' % (pp, tp))
    if tp > 1 and not hw['nvlink']:
        result['warnings'].append('TP=%d over PCIe (no NVLink reported): expect lower throughput' % tp)
    result['fits'] = True
    return result


def _suggest(model, quant, hw, opts):
    """What would fit: more nodes, 4-bit or fp8 on this hardware, or a bigger tier."""
    suggestions = []
    base = dict(opts, tensor_parallel_size=None, pipeline_parallel_size=None)
    if hw['gpu_count']:
        for nodes in range(opts['nodes'] + 1, MAX_SUGGESTED_NODES + 1):
            plan = _plan_gpu(model, quant, hw, dict(base, nodes=nodes))
            if plan['fits']:
                suggestions.append('%d nodes of %dx %s with %s (TP=%s, PP=%s, max_model_len %s)'
                                   % (nodes, hw['gpu_count'], hw['gpu_name'], quant,
                                      plan['tensor_parallel_size'], plan['pipeline_parallel_size'],
                                      plan['max_model_len']))
                break
        alternatives = []
        if quant in ('bf16', 'fp16', 'fp32') and _quant_problem('fp8', hw) is None:
            alternatives.append('fp8')
        if quant not in ('awq', 'gptq', 'int4'):
            alternatives.append('awq')
        for alt in alternatives:
            if _quant_problem(alt, hw):
                continue
            plan = _plan_gpu(model, alt, hw, base)
            if plan['fits']:
                label = '4-bit (awq or gptq)' if alt == 'awq' else alt
                suggestions.append('%s on %d node(s) of this hardware (TP=%s, PP=%s, max_model_len %s)'
                                   % (label, opts['nodes'], plan['tensor_parallel_size'],
                                      plan['pipeline_parallel_size'], plan['max_model_len']))
                break
    for label, name, mib, cc, count in TIERS:
        tier = {'gpu_count': count, 'gpu_name': name, 'memory_total_mib': mib, 'cc': _parse_cc(cc), 'nvlink': True,
                'nvswitch': count == 8, 'mixed': False, 'skipped': 0}
        if count * mib <= hw['gpu_count'] * hw['memory_total_mib']:
            continue
        if _quant_problem(quant, tier):
            continue
        plan = _plan_gpu(model, quant, tier, dict(base, nodes=1))
        if plan['fits']:
            suggestions.append('a bigger tier: one node of %s with %s (TP=%s, max_model_len %s)'
                               % (label, quant, plan['tensor_parallel_size'], plan['max_model_len']))
            break
    return suggestions


def _finish(result):
    if result['fits']:
        parts = ['%s (%s) fits' % (result['model'], result['quantization'])]
        if result['backend'] == 'vllm_cpu':
            parts.append('on the CPU tier (vllm_cpu, KV cache %d GiB)' % result['cpu_kvcache_space_gib'])
        else:
            parts.append('with TP=%d PP=%d DP=%d' % (
                result['tensor_parallel_size'], result['pipeline_parallel_size'], result['data_parallel_size']))
        parts.append('max_model_len %d' % result['max_model_len'])
        result['message'] = ', '.join(parts)
    else:
        text = '%s (%s) does not fit: %s.' % (result['model'], result['quantization'], '; '.join(result['reasons']))
        if result['suggestions']:
            text += ' Would fit: %s.' % '; or '.join(result['suggestions'])
        result['message'] = text
    return result


def plan(model, hardware=None, quantization=None, nodes=1, gpu_memory_utilization=DEFAULT_GPU_MEMORY_UTILIZATION,
         tensor_parallel_size=None, pipeline_parallel_size=None, max_model_len=None, min_model_len=DEFAULT_MIN_MODEL_LEN,
         kv_cache_dtype='auto', host_memory_mib=None, cpu_kvcache_space_gib=None, backend=None):
    """Plan the serving of ``model`` on ``nodes`` nodes like ``hardware``; see the module docstring."""
    model = resolve_model(model)
    hw = resolve_hardware(hardware)
    quant = normalise_quantisation(quantization) or model['native_dtype']
    nodes = _num(nodes, 'nodes', int)
    if nodes < 1:
        raise PlanError('nodes must be >= 1')
    util = _num(gpu_memory_utilization, 'gpu_memory_utilization')
    if not 0.0 < util <= 1.0:
        raise PlanError('gpu_memory_utilization must be in (0, 1], got %s' % util)
    if backend not in (None, '', 'vllm', 'sglang', 'vllm_cpu'):
        raise PlanError('backend must be vllm, sglang or vllm_cpu, got %r' % (backend,))
    opts = {
        'nodes': nodes,
        'gpu_memory_utilization': util,
        'tensor_parallel_size': _num(tensor_parallel_size, 'tensor_parallel_size', int) if tensor_parallel_size else None,
        'pipeline_parallel_size': (_num(pipeline_parallel_size, 'pipeline_parallel_size', int)
                                   if pipeline_parallel_size else None),
        'max_model_len': _num(max_model_len, 'max_model_len', int) if max_model_len else None,
        'min_model_len': _num(min_model_len or DEFAULT_MIN_MODEL_LEN, 'min_model_len', int),
        'kv_cache_dtype': kv_cache_dtype or 'auto',
        'host_memory_mib': host_memory_mib,
        'cpu_kvcache_space_gib': cpu_kvcache_space_gib,
        'gpu_backend': backend if backend in ('vllm', 'sglang') else 'vllm',
    }
    kv_bytes_per_element(quant, opts['kv_cache_dtype'])  # validates kv_cache_dtype
    if hw['gpu_count'] == 0 or backend == 'vllm_cpu':
        result = _plan_cpu(model, quant, opts)
        if hw.get('skipped'):
            result['warnings'].append('%d GPU(s) reported errors and were left out' % hw['skipped'])
        return result
    result = _plan_gpu(model, quant, hw, opts)
    if hw['skipped']:
        result['warnings'].append('%d GPU(s) reported errors and were left out' % hw['skipped'])
    if not result['fits'] and not any(reason.startswith('operator override') for reason in result['reasons']):
        result['suggestions'] = _suggest(model, quant, hw, opts)
    return _finish(result)
