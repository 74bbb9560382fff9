# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The serving planner: a table of model x tier cases with their expected plans, then the memory model's parts."""

from __future__ import annotations

import pytest

from ansible_collections.onprem.deepseek.plugins.module_utils import _serving_plan as sp

GIB = 1024 ** 3


def nvml(count, name, mib, cc, nvlinks=0, nvswitch=False):
    """The shape of onprem.deepseek.nvml_info's result (the keys the planner reads, plus a few it ignores)."""
    return {
        'driver_present': count > 0,
        'gpu_count': count,
        'nvswitch_present': nvswitch,
        'gpus': [{'index': i, 'uuid': 'GPU-%d' % i, 'name': name, 'memory_total_mib': mib,
                  'memory_total_bytes': mib * 1024 * 1024, 'compute_capability': cc,
                  'nvlink_active_links': nvlinks, 'error': None} for i in range(count)],
    }


H100x8 = nvml(8, 'NVIDIA H100 80GB HBM3', 81559, '9.0', 18, True)
H100x4 = nvml(4, 'NVIDIA H100 80GB HBM3', 81559, '9.0', 18, False)
H200x8 = nvml(8, 'NVIDIA H200', 143771, '9.0', 18, True)
A30x2 = nvml(2, 'NVIDIA A30', 24576, '8.0')
L40Sx4 = nvml(4, 'NVIDIA L40S', 46068, '8.9')
T4x1 = nvml(1, 'Tesla T4', 15360, '7.5')
NO_GPU = {'driver_present': False, 'gpu_count': 0, 'gpus': [], 'nvswitch_present': False}

# id, model, hardware, keyword arguments, expected values, substrings of the message
CASES = [
    ('r1-671b-fp8-1x8h100-refused', 'deepseek-r1', H100x8, {},
     dict(fits=False, quantization='fp8', moe=True, mla=True),
     ['does not fit', '2 nodes of 8x NVIDIA H100 80GB HBM3 with fp8 (TP=8, PP=2', '4-bit (awq or gptq)',
      '8x NVIDIA H200 141GB']),
    ('r1-671b-fp8-2x8h100-pp2', 'deepseek-r1', H100x8, dict(nodes=2),
     dict(fits=True, tensor_parallel_size=8, pipeline_parallel_size=2, data_parallel_size=1, nodes_used=2,
          replicas=1, enable_expert_parallel=True, expert_parallel_size=8, max_model_len=163840,
          vllm_quantization='fp8', dtype='bfloat16', gpus_used=16),
     ['fits, with TP=8 PP=2 DP=1']),
    ('v3-671b-fp8-1x8h200', 'deepseek-v3', H200x8, {},
     dict(fits=True, tensor_parallel_size=8, pipeline_parallel_size=1, max_model_len=163840),
     ['TP=8 PP=1']),
    ('r1-671b-awq-1x8h100', 'deepseek-r1', H100x8, dict(quantization='awq'),
     dict(fits=True, tensor_parallel_size=8, pipeline_parallel_size=1, vllm_quantization='awq'),
     []),
    ('qwen32b-bf16-2xa30-refused', 'deepseek-r1-distill-qwen-32b', A30x2, dict(quantization='bf16'),
     dict(fits=False, quantization='bf16'),
     ['61.1 GiB of weights', '2 nodes of 2x NVIDIA A30 with bf16', '4-bit (awq or gptq) on 1 node(s)',
      '4x NVIDIA A30 24GB']),
    ('qwen7b-bf16-2xa30-tp2', 'deepseek-r1-distill-qwen-7b', A30x2, dict(quantization='bf16'),
     dict(fits=True, tensor_parallel_size=2, pipeline_parallel_size=1, data_parallel_size=1, max_model_len=131072,
          enable_expert_parallel=False, backend='vllm', dtype='bfloat16', vllm_quantization=None),
     ['TP=2 PP=1 DP=1']),
    ('qwen32b-fp8-2xa30-cc-refused', 'deepseek-r1-distill-qwen-32b', A30x2, dict(quantization='fp8'),
     dict(fits=False, tensor_parallel_size=None),
     ['fp8 needs compute capability >= 8.9', 'A30 is 8.0', 'use awq or gptq', '4-bit (awq or gptq)']),
    ('qwen1.5b-bf16-2xa30-dp2', 'deepseek-r1-distill-qwen-1.5b', A30x2, {},
     dict(fits=True, tensor_parallel_size=1, data_parallel_size=2, max_model_len=131072),
     []),
    ('qwen14b-bf16-2xa30-context-limited', 'deepseek-r1-distill-qwen-14b', A30x2, {},
     dict(fits=True, tensor_parallel_size=2, max_model_len=61312),
     ['max_model_len 61312']),
    ('llama70b-bf16-4xh100-tp4', 'deepseek-r1-distill-llama-70b', H100x4, {},
     dict(fits=True, tensor_parallel_size=4, data_parallel_size=1, max_model_len=131072),
     []),
    ('qwen32b-bf16-4xh100-tp2-dp2', 'deepseek-r1-distill-qwen-32b', H100x4, {},
     dict(fits=True, tensor_parallel_size=2, data_parallel_size=2, max_model_len=131072),
     []),
    ('llama8b-bf16-t4-cc-refused', 'deepseek-r1-distill-llama-8b', T4x1, {},
     dict(fits=False),
     ['bf16 needs compute capability >= 8.0', 'use fp16']),
    ('llama8b-fp16-t4-4bit-suggested', 'deepseek-r1-distill-llama-8b', T4x1, dict(quantization='fp16'),
     dict(fits=False),
     ['Would fit: 2 nodes of 1x Tesla T4', '4-bit (awq or gptq)']),
    ('qwen32b-bf16-4xl40s', 'deepseek-r1-distill-qwen-32b', L40Sx4, {},
     dict(fits=True, tensor_parallel_size=4, max_model_len=131072),
     []),
    ('qwen7b-2-nodes-2-replicas', 'deepseek-r1-distill-qwen-7b', A30x2, dict(nodes=2),
     dict(fits=True, tensor_parallel_size=2, pipeline_parallel_size=1, replicas=2),
     []),
    ('tiny-cpu-tier', 'deepseek-v3-tiny', NO_GPU, dict(host_memory_mib=24 * 1024),
     dict(fits=True, backend='vllm_cpu', tensor_parallel_size=1, pipeline_parallel_size=1, max_model_len=4096,
          cpu_kvcache_space_gib=1, kv_bytes_per_token=(512 + 64) * 2 * 2, dtype='bfloat16'),
     ['CPU tier (vllm_cpu, KV cache 1 GiB)']),
    ('qwen7b-cpu-tier-too-small', 'deepseek-r1-distill-qwen-7b', NO_GPU, dict(host_memory_mib=8192),
     dict(fits=False, backend='vllm_cpu'),
     ['the CPU tier needs', 'the host has 8.0 GiB']),
    ('r1-fp8-cpu-tier-refused', 'deepseek-r1', NO_GPU, dict(host_memory_mib=2 * 1024 * 1024),
     dict(fits=False, backend='vllm_cpu'),
     ['fp8 is not served by vllm_cpu']),
    ('override-tp1-len32k-honoured', 'deepseek-r1-distill-qwen-7b', A30x2,
     dict(tensor_parallel_size=1, max_model_len=32768),
     dict(fits=True, tensor_parallel_size=1, data_parallel_size=2, max_model_len=32768),
     []),
    ('override-tp1-full-context-refused', 'deepseek-r1-distill-qwen-7b', A30x2,
     dict(tensor_parallel_size=1, max_model_len=131072),
     dict(fits=False, tensor_parallel_size=1, suggestions=[]),
     ['operator override refused: max_model_len 131072', 'the memory allows 92160 tokens with TP=1 PP=1']),
    ('override-tp3-refused', 'deepseek-r1-distill-qwen-7b', A30x2, dict(tensor_parallel_size=3),
     dict(fits=False, suggestions=[]),
     ['operator override refused: tensor_parallel_size 3 is not a power of two']),
    ('override-tp8-on-qwen7b-heads-refused', 'deepseek-r1-distill-qwen-7b', H100x8, dict(tensor_parallel_size=8),
     dict(fits=False),
     ['tensor_parallel_size 8 does not divide the 28 attention heads']),
    ('override-pp2-on-one-node-refused', 'deepseek-r1-distill-qwen-7b', A30x2, dict(pipeline_parallel_size=2),
     dict(fits=False),
     ['pipeline_parallel_size 2 needs 2 nodes, 1 given']),
    ('override-pp2-honoured', 'deepseek-r1-distill-qwen-7b', A30x2,
     dict(nodes=2, pipeline_parallel_size=2, tensor_parallel_size=1),
     dict(fits=True, tensor_parallel_size=1, pipeline_parallel_size=2, data_parallel_size=1, replicas=1),
     []),
]


@pytest.mark.parametrize('model, hardware, kwargs, expected, phrases',
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_plan_table(model, hardware, kwargs, expected, phrases):
    result = sp.plan(model, hardware, **kwargs)
    for key, value in expected.items():
        assert result[key] == value, '%s: %r != %r; %s' % (key, result[key], value, result['message'])
    for phrase in phrases:
        assert phrase in result['message'], '%r not in %r' % (phrase, result['message'])
    if result['fits']:
        assert result['reasons'] == [] and result['suggestions'] == []
        assert result['max_model_len'] >= 4096
        assert result['max_full_length_sequences'] >= 1
    else:
        assert result['reasons'], result


def test_table_has_ten_model_tier_cases():
    assert len(CASES) >= 10
    assert len(set(case[0] for case in CASES)) == len(CASES)


def test_671b_fp8_memory_figures_on_8x_h100():
    result = sp.plan('deepseek-r1', H100x8)
    # 671e9 x 1 byte x 1.03 over 8 GPUs is more than 90% of 80 GB.
    assert result['weights_gib_total'] == pytest.approx(671e9 * 1.03 / GIB, rel=1e-3)
    assert result['weights_gib_per_gpu'] > result['usable_gib_per_gpu']


def test_pp2_halves_the_weights_and_the_mla_cache_per_gpu():
    one = sp.gpu_layout(sp.resolve_model('deepseek-r1'), 'fp8', sp.resolve_hardware(H200x8), 8, 1, 0.9, 'auto')
    two = sp.gpu_layout(sp.resolve_model('deepseek-r1'), 'fp8', sp.resolve_hardware(H200x8), 8, 2, 0.9, 'auto')
    assert two['weights'] == pytest.approx(one['weights'] * 31 / 61)
    assert one['kv_per_token'] == 576 * 61 * 2
    assert two['kv_per_token'] == 576 * 31 * 2


@pytest.mark.parametrize('model, tp, expected', [
    # MLA: (kv_lora_rank + qk_rope_head_dim) x layers x 2 bytes, the same on every TP rank.
    ('deepseek-v3', 1, 576 * 61 * 2),
    ('deepseek-v3', 8, 576 * 61 * 2),
    ('deepseek-v3-tiny', 1, 576 * 2 * 2),
    # GQA: 2 x KV heads per rank x head_dim x layers x 2 bytes.
    ('deepseek-r1-distill-qwen-7b', 1, 2 * 4 * 128 * 28 * 2),
    ('deepseek-r1-distill-qwen-7b', 2, 2 * 2 * 128 * 28 * 2),
    ('deepseek-r1-distill-qwen-7b', 4, 2 * 1 * 128 * 28 * 2),
    ('deepseek-r1-distill-qwen-1.5b', 4, 2 * 1 * 128 * 28 * 2),  # 2 KV heads replicated over 4 ranks
    ('deepseek-r1-distill-llama-70b', 4, 2 * 2 * 128 * 80 * 2),
])
def test_kv_bytes_per_token(model, tp, expected):
    assert sp.kv_bytes_per_token(sp.resolve_model(model), 2, tp) == expected


def test_fp8_kv_cache_halves_the_cache():
    model = sp.resolve_model('deepseek-r1-distill-qwen-7b')
    assert sp.kv_bytes_per_token(model, sp.kv_bytes_per_element('bf16', 'fp8')) * 2 == \
        sp.kv_bytes_per_token(model, sp.kv_bytes_per_element('bf16', 'auto'))


@pytest.mark.parametrize('tp, problem', [
    (1, None), (2, None), (4, None),
    (3, 'not a power of two'),
    (8, 'does not divide the 28 attention heads'),
    (16, 'larger than the 8 GPU(s)'),
])
def test_tp_rules(tp, problem):
    found = sp.tp_problem(sp.resolve_model('deepseek-r1-distill-qwen-7b'), tp, 8)
    if problem is None:
        assert found is None
    else:
        assert problem in found


# config.json of tests/tools/make_tiny_model.py (transformers 5.24.0), the keys the planner reads.
TINY_CONFIG = {
    'architectures': ['DeepseekV3ForCausalLM'], 'model_type': 'deepseek_v3', 'dtype': 'bfloat16',
    'torch_dtype': 'bfloat16', 'hidden_size': 128, 'num_hidden_layers': 2, 'num_attention_heads': 2,
    'num_key_value_heads': 2, 'head_dim': 64, 'q_lora_rank': 64, 'kv_lora_rank': 512, 'qk_rope_head_dim': 64,
    'qk_nope_head_dim': 128, 'v_head_dim': 128, 'n_routed_experts': 4, 'num_experts_per_tok': 2,
    'max_position_embeddings': 4096, 'vocab_size': 512, 'topk_method': 'noaux_tc', 'scoring_func': 'sigmoid',
}


def test_hf_config_of_the_tiny_model_plans_like_the_catalogue():
    from_config = sp.plan({'config': TINY_CONFIG, 'params_total': 1157376}, [], host_memory_mib=24576)
    from_catalogue = sp.plan('deepseek-v3-tiny', [], host_memory_mib=24576)
    for key in ('fits', 'backend', 'mla', 'moe', 'max_model_len', 'kv_bytes_per_token', 'cpu_kvcache_space_gib',
                'quantization'):
        assert from_config[key] == from_catalogue[key], key


def test_hf_config_with_quantization_config_and_gqa():
    config = {'architectures': ['Qwen2ForCausalLM'], 'hidden_size': 3584, 'num_hidden_layers': 28,
              'num_attention_heads': 28, 'num_key_value_heads': 4, 'max_position_embeddings': 32768,
              'torch_dtype': 'float16', 'quantization_config': {'quant_method': 'awq', 'bits': 4}}
    model = sp.resolve_model({'config': config, 'params_total': 7.62e9, 'name': 'qwen7b-awq'})
    assert model['native_dtype'] == 'awq'
    assert model['head_dim'] == 128 and not model['mla']
    result = sp.plan({'config': config, 'params_total': 7.62e9}, A30x2)
    assert result['fits'] and result['tensor_parallel_size'] == 1 and result['data_parallel_size'] == 2
    assert result['max_model_len'] == 32768


def test_gpus_with_errors_and_mixed_sizes():
    hw = nvml(2, 'NVIDIA A30', 24576, '8.0')
    hw['gpus'].append(dict(hw['gpus'][0], index=2, memory_total_mib=16384, name='small'))
    hw['gpus'].append(dict(hw['gpus'][0], index=3, error='nvmlDeviceGetMemoryInfo: GPU is lost'))
    result = sp.plan('deepseek-r1-distill-qwen-1.5b', hw)
    assert result['gpu_count'] == 3
    assert any('differ' in warning for warning in result['warnings'])
    assert any('left out' in warning for warning in result['warnings'])


def test_gpu_list_and_bytes_only_input():
    gpus = [{'memory_total_bytes': 24576 * 1024 * 1024, 'compute_capability': '8.0'}] * 2
    assert sp.plan('deepseek-r1-distill-qwen-7b', gpus)['tensor_parallel_size'] == 2


def test_backend_vllm_cpu_forced_on_a_gpu_host():
    result = sp.plan('deepseek-v3-tiny', A30x2, backend='vllm_cpu', host_memory_mib=16384)
    assert result['backend'] == 'vllm_cpu' and result['fits']


def test_cpu_tier_without_host_memory_is_refused():
    result = sp.plan('deepseek-v3-tiny', NO_GPU)
    assert not result['fits'] and 'host_memory_mib' in result['message']


def test_cpu_tier_override_of_max_model_len_above_the_model():
    result = sp.plan('deepseek-v3-tiny', NO_GPU, host_memory_mib=24576, max_model_len=8192)
    assert not result['fits'] and 'operator override refused' in result['message']


@pytest.mark.parametrize('kwargs, error', [
    (dict(model='no-such-model'), 'unknown model'),
    (dict(model={'config': TINY_CONFIG}), 'params_total is required'),
    (dict(model={'config': {'hidden_size': 1}, 'params_total': 1}), 'lacks num_hidden_layers'),
    (dict(model={'name': 'x'}), 'lacks params_total'),
    (dict(model='deepseek-r1', quantization='q3'), 'unknown dtype/quantisation'),
    (dict(model='deepseek-r1', nodes=0), 'nodes must be >= 1'),
    (dict(model='deepseek-r1', gpu_memory_utilization=1.5), 'gpu_memory_utilization'),
    (dict(model='deepseek-r1', kv_cache_dtype='int2'), 'kv_cache_dtype'),
    (dict(model='deepseek-r1', backend='tgi'), 'backend must be'),
    (dict(model='deepseek-r1', hardware='H100'), 'hardware must be'),
    (dict(model=42), 'catalogue name or a mapping'),
])
def test_input_errors(kwargs, error):
    hardware = kwargs.pop('hardware', H100x8)
    with pytest.raises(sp.PlanError, match=error):
        sp.plan(hardware=hardware, **kwargs)


def test_aliases_and_case():
    assert sp.resolve_model('deepseek-ai/DeepSeek-R1')['name'] == 'DeepSeek-R1'
    assert sp.resolve_model('TINY')['num_layers'] == 2
