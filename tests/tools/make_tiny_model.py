# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Generate the sandbox model: a tiny DeepSeek-V3-architecture model with a trained tokenizer.

Usage (in a venv with torch==2.13.0 (CPU), transformers 5.x, tokenizers and safetensors; see the report of issue 6):

    python tests/tools/make_tiny_model.py OUTDIR [--generate 16] [--seed N] [--hidden-size N] [--layers N] ...

Writes into OUTDIR (created; existing files of the same names are replaced): config.json, generation_config.json,
model.safetensors, tokenizer.json, tokenizer_config.json and SHA256SUMS (the manifest that
onprem.deepseek.model_manifest verifies). The output is byte-identical across runs on the same versions: fixed seeds,
single-threaded tokenizer training, no timestamps. Every file is made mode 0644 (safetensors writes 0600).

Model: DeepseekV3ForCausalLM, 2 layers (layer 0 dense, layer 1 MoE with 4 routed experts, top-2, 1 shared expert),
MLA with q_lora_rank 64, kv_lora_rank 512, qk_rope_head_dim 64, qk_nope_head_dim 128, v_head_dim 128, hidden 128,
2 heads, topk_method noaux_tc, scoring_func sigmoid (vLLM needs both), bf16 weights, 4096 positions.
Tokenizer: byte-level BPE with 512 tokens trained on generated text, DeepSeek's special tokens and a DeepSeek-V3
chat template (generation prompt ``<｜Assistant｜>``).

The size options (``--hidden-size``, ``--intermediate-size``, ``--moe-intermediate-size``, ``--layers``, ``--heads``,
``--experts``, ``--q-lora-rank``) and ``--seed`` (of the weights; the tokenizer stays the same) make other models of
the same architecture, for example the larger one of bench/model_watermark.py; without them the output is the
sandbox model above, byte for byte.

With ``--generate N`` the model is loaded back with transformers and N tokens are generated greedily from a chat
prompt; the ids, the text and the time are printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import sys
import time

SEED = 20260101
VOCAB_SIZE = 512
MAX_POSITIONS = 4096

BOS = '<｜begin▁of▁sentence｜>'
EOS = '<｜end▁of▁sentence｜>'
PAD = '<｜▁pad▁｜>'
USER = '<｜User｜>'
ASSISTANT = '<｜Assistant｜>'
THINK = '<think>'
END_THINK = '</think>'
SPECIAL = [BOS, EOS, PAD, USER, ASSISTANT, THINK, END_THINK]

# DeepSeek-V3's template, reduced to system, user and assistant turns (no tool calls).
CHAT_TEMPLATE = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{{ bos_token }}"
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] }}{% endif %}{% endfor %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '" + USER + "' + message['content'] }}"
    "{% elif message['role'] == 'assistant' %}"
    "{% set content = message['content'] %}"
    "{% if '" + END_THINK + "' in content %}{% set content = content.split('" + END_THINK + "')[-1] %}{% endif %}"
    "{{ '" + ASSISTANT + "' + content + '" + EOS + "' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '" + ASSISTANT + "' }}{% endif %}"
)

WORDS = (
    'the model serves a private answer on premises with tensor parallel gpu memory cache token request '
    'deepseek reasoning think about this question and reply briefly because hardware tier node cluster '
    'ansible role playbook vault secret gateway health metrics latency throughput batch sequence context '
    'hello world what is how are you today please explain simple small tiny random weights layer expert '
    'attention latent rank rope head dimension hidden vocabulary byte pair encoding training text sample '
    'one two three four five six seven eight nine ten zero number value 2026 1024 512 128 64 16'
).split()


def corpus(seed=SEED, lines=1500):
    """Deterministic training text: sentences of a fixed vocabulary, some in chat form."""
    rng = random.Random(seed)
    out = []
    for index in range(lines):
        words = [rng.choice(WORDS) for dummy in range(rng.randint(4, 14))]
        sentence = ' '.join(words).capitalize() + rng.choice(['.', '?', '!', ','])
        if index % 5 == 0:
            sentence = USER + sentence + ASSISTANT + THINK + '\n' + sentence + '\n' + END_THINK + '\n\n' + sentence + EOS
        out.append(sentence)
    return out


def load_model_store():
    """plugins/module_utils/_model_store.py of this checkout, loaded without Ansible."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, '..', '..', 'plugins', 'module_utils', '_model_store.py')
    spec = importlib.util.spec_from_file_location('onprem_deepseek_model_store', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(corpus(), trainer=trainer)
    if tokenizer.get_vocab_size() != VOCAB_SIZE:
        raise SystemExit('tokenizer has %d tokens, expected %d' % (tokenizer.get_vocab_size(), VOCAB_SIZE))
    return tokenizer


# The sandbox model's sizes (the defaults of the size options).
SIZES = {'hidden_size': 128, 'intermediate_size': 256, 'moe_intermediate_size': 64, 'num_hidden_layers': 2,
         'num_attention_heads': 2, 'n_routed_experts': 4, 'q_lora_rank': 64}


def build_config(tokenizer, sizes=None):
    from transformers import DeepseekV3Config

    sizes = dict(SIZES, **(sizes or {}))
    config = DeepseekV3Config(
        vocab_size=VOCAB_SIZE,
        hidden_size=sizes['hidden_size'],
        intermediate_size=sizes['intermediate_size'],
        moe_intermediate_size=sizes['moe_intermediate_size'],
        num_hidden_layers=sizes['num_hidden_layers'],
        num_attention_heads=sizes['num_attention_heads'],
        num_key_value_heads=sizes['num_attention_heads'],
        n_shared_experts=1,
        n_routed_experts=sizes['n_routed_experts'],
        num_experts_per_tok=2,
        first_k_dense_replace=1,
        n_group=1,
        topk_group=1,
        routed_scaling_factor=2.5,
        norm_topk_prob=True,
        q_lora_rank=sizes['q_lora_rank'],
        kv_lora_rank=512,
        qk_rope_head_dim=64,
        qk_nope_head_dim=128,
        v_head_dim=128,
        head_dim=64,
        max_position_embeddings=MAX_POSITIONS,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.token_to_id(BOS),
        eos_token_id=tokenizer.token_to_id(EOS),
        pad_token_id=tokenizer.token_to_id(PAD),
        initializer_range=0.02,
    )
    # Read by vLLM's DeepSeek-V3 code (the HF config class does not declare them).
    config.topk_method = 'noaux_tc'
    config.scoring_func = 'sigmoid'
    config.architectures = ['DeepseekV3ForCausalLM']
    return config


def save_tokenizer(tokenizer, outdir):
    from transformers import PreTrainedTokenizerFast

    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=BOS, eos_token=EOS, pad_token=PAD,
        additional_special_tokens=[USER, ASSISTANT], model_max_length=MAX_POSITIONS, add_bos_token=False,
        clean_up_tokenization_spaces=False,
    )
    wrapped.chat_template = CHAT_TEMPLATE
    wrapped.save_pretrained(outdir)
    # Readable by transformers 4.x too: a class name both know, the template also inside tokenizer_config.json
    # (transformers 5 reads chat_template.jinja first; both hold the same text).
    canonical_json(os.path.join(outdir, 'tokenizer_config.json'),
                   update={'tokenizer_class': 'PreTrainedTokenizerFast', 'chat_template': CHAT_TEMPLATE,
                           'additional_special_tokens': [USER, ASSISTANT], 'add_bos_token': False})
    return wrapped


def canonical_json(path, update=None, drop=()):
    with open(path) as handle:
        data = json.load(handle)
    for key in drop:
        data.pop(key, None)
    data.update(update or {})
    with open(path, 'w') as handle:
        json.dump(data, handle, indent=2, sort_keys=True, ensure_ascii=False)
        handle.write('\n')


def checkpoint_state(model):
    """The state dict in DeepSeek's checkpoint layout, which vLLM loads.

    transformers 5 keeps the routed experts of a layer fused (``experts.gate_up_proj`` [E, 2I, H] with the gate rows
    first, ``experts.down_proj`` [E, H, I]); DeepSeek's checkpoints and vLLM's loader name each expert's projections
    (``experts.<e>.gate_proj.weight`` [I, H], ``up_proj`` [I, H], ``down_proj`` [H, I]). transformers reads both.
    """
    state = {}
    for name, tensor in model.state_dict().items():
        if name.endswith('.experts.gate_up_proj'):
            prefix = name[:-len('gate_up_proj')]
            half = tensor.shape[1] // 2
            for expert in range(tensor.shape[0]):
                state['%s%d.gate_proj.weight' % (prefix, expert)] = tensor[expert, :half, :]
                state['%s%d.up_proj.weight' % (prefix, expert)] = tensor[expert, half:, :]
        elif name.endswith('.experts.down_proj'):
            prefix = name[:-len('down_proj')]
            for expert in range(tensor.shape[0]):
                state['%s%d.down_proj.weight' % (prefix, expert)] = tensor[expert]
        else:
            state[name] = tensor
    return state


def generate(outdir, tokens):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(outdir)
    model = AutoModelForCausalLM.from_pretrained(outdir, dtype=torch.bfloat16)
    model.eval()
    messages = [{'role': 'user', 'content': 'Hello, what is the model?'}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = tokenizer(prompt, return_tensors='pt', add_special_tokens=False)
    timings = []
    for dummy in range(2):  # the first call pays one-time set-up costs; both are printed
        start = time.perf_counter()
        with torch.no_grad():
            output = model.generate(**inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
        timings.append(time.perf_counter() - start)
    new = output[0, inputs['input_ids'].shape[1]:].tolist()
    print('prompt: %r' % prompt)
    print('prompt_ids: %s' % inputs['input_ids'][0].tolist())
    print('generated_ids: %s' % new)
    print('generated_text: %r' % tokenizer.decode(new))
    print('generate tokens=%d cold_seconds=%.3f warm_seconds=%.3f' % (len(new), timings[0], timings[1]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('outdir')
    parser.add_argument('--generate', type=int, default=0, metavar='N',
                        help='afterwards, generate N tokens greedily with transformers and print them')
    parser.add_argument('--seed', type=int, default=SEED, help='seed of the random weights (default %(default)s)')
    for option, key in (('--hidden-size', 'hidden_size'), ('--intermediate-size', 'intermediate_size'),
                        ('--moe-intermediate-size', 'moe_intermediate_size'), ('--layers', 'num_hidden_layers'),
                        ('--heads', 'num_attention_heads'), ('--experts', 'n_routed_experts'),
                        ('--q-lora-rank', 'q_lora_rank')):
        parser.add_argument(option, dest=key, type=int, default=SIZES[key], metavar='N',
                            help='default %(default)s')
    args = parser.parse_args(argv)

    os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
    os.environ['RAYON_NUM_THREADS'] = '1'
    import torch
    from safetensors.torch import save_file
    from transformers import DeepseekV3ForCausalLM, GenerationConfig

    started = time.perf_counter()
    outdir = os.path.abspath(args.outdir)
    os.makedirs(outdir, exist_ok=True)
    tokenizer = build_tokenizer()
    config = build_config(tokenizer, dict((key, getattr(args, key)) for key in SIZES))

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    model = DeepseekV3ForCausalLM(config)
    model = model.to(torch.bfloat16)
    model.eval()
    params = sum(tensor.numel() for tensor in model.parameters())

    config.dtype = torch.bfloat16
    config.save_pretrained(outdir)
    # No multi-token-prediction weights are written; torch_dtype for readers older than transformers 5.
    canonical_json(os.path.join(outdir, 'config.json'), update={'torch_dtype': 'bfloat16', 'num_nextn_predict_layers': 0})
    GenerationConfig(bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id,
                     pad_token_id=config.pad_token_id, do_sample=False).save_pretrained(outdir)
    canonical_json(os.path.join(outdir, 'generation_config.json'))
    # Contiguous tensors sorted by name, fixed metadata: the same bytes every run.
    state = dict((name, tensor.detach().contiguous()) for name, tensor in sorted(checkpoint_state(model).items()))
    save_file(state, os.path.join(outdir, 'model.safetensors'), metadata={'format': 'pt'})
    save_tokenizer(tokenizer, outdir)
    for name in os.listdir(outdir):
        if name.endswith('.json'):
            canonical_json(os.path.join(outdir, name))

    store = load_model_store()
    manifest = os.path.join(outdir, store.DEFAULT_MANIFEST_NAME)
    entries, total = store.build_manifest(outdir, exclude=[store.DEFAULT_MANIFEST_NAME])
    with open(manifest, 'w') as handle:
        handle.write(store.render_manifest(entries))
    for root, dirs, files in os.walk(outdir):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    os.chmod(outdir, 0o755)

    print('wrote %s: %d files, %d bytes, %d parameters, %.1f s'
          % (outdir, len(entries), total, params, time.perf_counter() - started))
    with open(manifest) as handle:
        sys.stdout.write(handle.read())
    if args.generate:
        generate(outdir, args.generate)
    return 0


if __name__ == '__main__':
    sys.exit(main())
