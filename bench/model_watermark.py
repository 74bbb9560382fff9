# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The keyed weight watermark of onprem.deepseek.model_watermark, measured on locally generated models.

Runs the module's own code (plugins/module_utils/_model_watermark.py: embed_file, detect_files) on safetensors
checkpoints made by tests/tools/make_tiny_model.py: the sandbox's tiny model (1.2M parameters) and a larger one of
the same DeepSeek-V3 architecture (--large-sizes, 136M parameters, about 270 MB). Prints:

- detection: tiny models of --seeds different weight seeds, each marked with its own random key, and the large
  model; every one must be detected (100%);
- false detections: the same tiny models unmarked (each against the key it would have had), each marked tiny
  model against another random key, the marked large model against --wrong-keys random keys and --large-seeds
  unmarked large models; at most 1% may be detected;
- robustness, on the marked tiny and large models: a bf16 -> fp16 cast, an 8-bit weight quantisation round trip
  (symmetric, per output row, absmax scale) and a short fine-tune (AdamW, --lr, --steps-tiny / --steps-large steps
  of batch 4 x 64 tokens of the tokenizer's corpus, in float32, saved back as bf16): the mark must still be detected;
- behaviour: greedy tokens (transformers, bf16) for --prompts chat prompts of --new-tokens tokens, marked against
  unmarked, and the largest absolute logit difference over those sequences;
- time: embed and detect per GB of checkpoint on the large model (median of --repeats runs).

The last line holds the key figures:
    model_watermark detected=D/M false=F/U fp16_z=.. int8_z=.. finetune_z=.. greedy_same=S/P ...

Run it in the model environment (tests/tools/requirements-model.txt):
    python3 -m venv .testbed/venv-model && .testbed/venv-model/bin/pip install -r tests/tools/requirements-model.txt
    nice -n 10 .testbed/venv-model/bin/python bench/model_watermark.py
"""
import argparse
import importlib.util
import os
import secrets
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LARGE_SIZES = {'hidden_size': 1024, 'intermediate_size': 2816, 'moe_intermediate_size': 512, 'num_hidden_layers': 8,
               'num_attention_heads': 8, 'n_routed_experts': 8, 'q_lora_rank': 256}
GB = 1e9


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wm = load('onprem_deepseek_model_watermark', os.path.join(ROOT, 'plugins', 'module_utils', '_model_watermark.py'))
gen = load('onprem_deepseek_make_tiny_model', os.path.join(ROOT, 'tests', 'tools', 'make_tiny_model.py'))


class Models(object):
    """Checkpoints of the generator's architecture, made in-process (tokenizer trained once)."""

    def __init__(self, workdir):
        import torch
        self.torch = torch
        self.workdir = workdir
        os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
        os.environ['RAYON_NUM_THREADS'] = '1'
        self.tokenizer = gen.build_tokenizer()

    def make(self, outdir, seed, sizes=None):
        """A full model folder (config, tokenizer, model.safetensors), like make_tiny_model.py writes."""
        from safetensors.torch import save_file
        from transformers import DeepseekV3ForCausalLM, GenerationConfig
        torch = self.torch
        config = gen.build_config(self.tokenizer, sizes)
        torch.manual_seed(seed)
        model = DeepseekV3ForCausalLM(config).to(torch.bfloat16)
        os.makedirs(outdir, exist_ok=True)
        config.dtype = torch.bfloat16
        config.save_pretrained(outdir)
        GenerationConfig(bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id,
                         pad_token_id=config.pad_token_id, do_sample=False).save_pretrained(outdir)
        state = dict((name, tensor.detach().contiguous()) for name, tensor in sorted(gen.checkpoint_state(model).items()))
        save_file(state, os.path.join(outdir, 'model.safetensors'), metadata={'format': 'pt'})
        gen.save_tokenizer(self.tokenizer, outdir)
        return outdir


def weights(folder):
    return os.path.join(folder, 'model.safetensors')


def mark(src, dst, key, strength):
    if os.path.isdir(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    started = time.perf_counter()
    stat = wm.embed_file(weights(src), weights(dst), key, strength)
    return stat, time.perf_counter() - started


def detect(folder, key, threshold):
    return wm.detect_files([weights(folder)], key, threshold)


def transform(src, dst, func):
    """Copy of a model folder with every tensor of model.safetensors passed through func(name, tensor)."""
    from safetensors.torch import load_file, save_file
    if os.path.isdir(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    state = load_file(weights(src))
    save_file(dict((name, func(name, tensor).contiguous()) for name, tensor in state.items()), weights(dst),
              metadata={'format': 'pt'})
    return dst


def relative_change(before, after):
    """RMS of the change of the 2-D float tensors between two checkpoints, relative to their RMS before."""
    from safetensors.torch import load_file
    old, new = load_file(weights(before)), load_file(weights(after))
    change = energy = 0.0
    for name, tensor in old.items():
        if tensor.is_floating_point() and tensor.dim() >= 2:
            change += float(((new[name].double() - tensor.double()) ** 2).sum())
            energy += float((tensor.double() ** 2).sum())
    return (change / energy) ** 0.5


def to_fp16(torch):
    return lambda name, tensor: tensor.to(torch.float16) if tensor.is_floating_point() else tensor


def int8_round_trip(torch):
    """Symmetric 8-bit quantisation per output row (absmax scale), dequantised back to the tensor's dtype."""
    def func(name, tensor):
        if not tensor.is_floating_point() or tensor.dim() < 2:
            return tensor
        values = tensor.float()
        flat = values.reshape(values.shape[0], -1)
        scale = flat.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127.0
        quantised = torch.clamp(torch.round(flat / scale), -127, 127).to(torch.int8)
        return (quantised.float() * scale).reshape(values.shape).to(tensor.dtype)
    return func


def fine_tune(models, src, dst, steps, lr, seed=0):
    """AdamW on batches of the tokenizer's corpus, float32; saved back as bf16 in the checkpoint layout."""
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer
    torch = models.torch
    if os.path.isdir(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    tokenizer = AutoTokenizer.from_pretrained(src)
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)
    model.train()
    tokenizer.model_max_length = 1 << 30  # the corpus is tokenized whole, then cut into 64-token rows
    ids = tokenizer('\n'.join(gen.corpus(seed=seed + 7, lines=3000)), add_special_tokens=False)['input_ids']
    data = torch.tensor(ids[:len(ids) // 64 * 64]).reshape(-1, 64)
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    for dummy in range(steps):
        batch = data[torch.randint(0, data.shape[0], (4,), generator=generator)]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
        losses.append(float(loss.detach()))
    model = model.to(torch.bfloat16)
    state = dict((name, tensor.detach().contiguous())
                 for name, tensor in sorted(gen.checkpoint_state(model).items()))
    save_file(state, weights(dst), metadata={'format': 'pt'})
    return losses[0], losses[-1]


PROMPTS = ['Hello, what is the model?', 'Explain the gateway briefly.', 'What is a tensor parallel node?',
           'Please reply about the vault secret.', 'How are you today?', 'One two three four',
           'Think about this question: what is the cache?', 'Tiny random weights layer expert attention',
           'What is 2026 plus 512?', 'Describe the cluster health metrics.', 'Say hello.', 'latency throughput batch',
           'byte pair encoding training text', 'hidden vocabulary rank rope head', 'the model serves a private answer',
           'Why is the sequence context small?']


def greedy(models, folder, prompts, new_tokens, dtype='bfloat16'):
    """Greedy token ids per prompt (chat template), and the model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    torch = models.torch
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype))
    model.eval()
    out = []
    for prompt in prompts:
        text = tokenizer.apply_chat_template([{'role': 'user', 'content': prompt}], add_generation_prompt=True,
                                             tokenize=False)
        inputs = tokenizer(text, return_tensors='pt', add_special_tokens=False)
        with torch.no_grad():
            ids = model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
        out.append((inputs['input_ids'].shape[1], ids[0].tolist()))
    return out, model


def compare(models, model_a, model_b, sequences):
    """Over the generated positions of ``sequences`` (the unmarked model's greedy ones, teacher-forced): the largest
    |logit difference| of two models, the share of positions where both pick the same next token, and the median
    standard deviation of model_a's logits (their scale)."""
    torch = models.torch
    largest = 0.0
    agree = positions = 0
    scale = []
    with torch.no_grad():
        for prompt_len, ids in sequences:
            batch = torch.tensor([ids])
            logits_a = model_a(input_ids=batch).logits.float()[0, prompt_len - 1:-1]
            logits_b = model_b(input_ids=batch).logits.float()[0, prompt_len - 1:-1]
            largest = max(largest, float((logits_a - logits_b).abs().max()))
            agree += int((logits_a.argmax(-1) == logits_b.argmax(-1)).sum())
            positions += logits_a.shape[0]
            scale.append(float(logits_a.std()))
    return largest, agree / float(positions), statistics.median(scale)


def behaviour(models, plain, marked, prompts, new_tokens):
    """The marked model against the unmarked one, both in bf16; and, as the scale of numeric noise, the unmarked
    weights computed in float32 against the same bf16 run (a change of arithmetic, not of weights)."""
    tokens_plain, model_plain = greedy(models, plain, prompts, new_tokens)
    tokens_marked, model_marked = greedy(models, marked, prompts, new_tokens)
    tokens_fp32, model_fp32 = greedy(models, plain, prompts, new_tokens, dtype='float32')
    figures = {}
    for label, tokens, model in (('mark', tokens_marked, model_marked), ('fp32', tokens_fp32, model_fp32)):
        gap, agreement, scale = compare(models, model_plain, model, tokens_plain)
        figures[label] = {'same': sum(1 for a, b in zip(tokens_plain, tokens) if a == b), 'gap': gap,
                          'agreement': agreement, 'scale': scale}
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--workdir', default=os.path.join(ROOT, '.testbed', 'bench-watermark'))
    parser.add_argument('--seeds', type=int, default=100, help='tiny models (weight seeds), marked and unmarked')
    parser.add_argument('--wrong-keys', type=int, default=100, help='wrong keys tried on the marked large model')
    parser.add_argument('--large-seeds', type=int, default=3, help='unmarked large models (other weight seeds)')
    parser.add_argument('--strength', type=float, default=wm.DEFAULT_STRENGTH)
    parser.add_argument('--threshold', type=float, default=wm.DEFAULT_THRESHOLD)
    parser.add_argument('--steps-tiny', type=int, default=100)
    parser.add_argument('--steps-large', type=int, default=20)
    parser.add_argument('--lr', type=float, default=1e-4)
    parser.add_argument('--prompts', type=int, default=16)
    parser.add_argument('--new-tokens', type=int, default=16)
    parser.add_argument('--repeats', type=int, default=3, help='runs of embed and detect on the large model (median)')
    parser.add_argument('--no-large', action='store_true', help='the tiny model only (a quick run)')
    args = parser.parse_args(argv)

    import torch
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    started = time.perf_counter()
    os.makedirs(args.workdir, exist_ok=True)
    models = Models(args.workdir)
    print('threshold z >= %.1f (p <= %.2g), strength %.4g of each tensor\'s RMS'
          % (args.threshold, wm.p_value(args.threshold), args.strength))

    detected = total_marked = 0
    false = total_unmarked = 0
    null_z = []

    # --- tiny models: marked with their own key, unmarked, and marked under a wrong key
    scratch = os.path.join(args.workdir, 'seed')
    for index in range(args.seeds):
        seed = gen.SEED + 1 + index
        plain = models.make(os.path.join(scratch, 'plain'), seed)
        key, wrong = secrets.token_hex(32), secrets.token_hex(32)
        unmarked = detect(plain, key, args.threshold)
        mark(plain, os.path.join(scratch, 'marked'), key, args.strength)
        own = detect(os.path.join(scratch, 'marked'), key, args.threshold)
        other = detect(os.path.join(scratch, 'marked'), wrong, args.threshold)
        total_marked += 1
        detected += own['marked']
        total_unmarked += 2
        false += unmarked['marked'] + other['marked']
        null_z += [unmarked['z_score'], other['z_score']]
    print('tiny, %d seeds: marked detected %d/%d; unmarked and wrong-key detections %d/%d (z mean %.3f, sd %.3f, '
          'max %.2f)' % (args.seeds, detected, total_marked, false, total_unmarked, statistics.mean(null_z),
                         statistics.pstdev(null_z), max(null_z)))

    key = secrets.token_hex(32)
    figures = {}
    sizes = [('tiny', None, args.steps_tiny)] + ([] if args.no_large else [('large', LARGE_SIZES, args.steps_large)])
    for label, model_sizes, steps in sizes:
        plain = models.make(os.path.join(args.workdir, label), gen.SEED, model_sizes)
        marked = os.path.join(args.workdir, label + '-marked')
        nbytes = os.path.getsize(weights(plain))
        stat, embed_s = mark(plain, marked, key, args.strength)
        result = detect(marked, key, args.threshold)
        total_marked += 1
        detected += result['marked']
        print('%s (%d weights marked in %d tensors, %.1f MB): z %.2f marked=%s (expected %.2f before rounding); '
              'unmarked z %.2f' % (label, result['weights'], result['tensors'], nbytes / 1e6, result['z_score'],
                                   result['marked'], wm.expected_z(args.strength, result['weights']),
                                   detect(plain, key, args.threshold)['z_score']))
        if label == 'large':
            wrong_z = []
            for dummy in range(args.wrong_keys):
                other = detect(marked, secrets.token_hex(32), args.threshold)
                total_unmarked += 1
                false += other['marked']
                wrong_z.append(other['z_score'])
            for index in range(args.large_seeds):
                other_plain = models.make(os.path.join(args.workdir, 'large-seed'), gen.SEED + 1000 + index, model_sizes)
                other = detect(other_plain, key, args.threshold)
                total_unmarked += 1
                false += other['marked']
                wrong_z.append(other['z_score'])
            print('large: %d wrong keys and %d unmarked seeds: detections %d (max z %.2f)'
                  % (args.wrong_keys, args.large_seeds, sum(1 for z in wrong_z if z >= args.threshold), max(wrong_z)))
            embed_times, detect_times = [embed_s], []
            for dummy in range(args.repeats - 1):
                embed_times.append(mark(plain, marked, key, args.strength)[1])
            for dummy in range(args.repeats):
                begin = time.perf_counter()
                detect(marked, key, args.threshold)
                detect_times.append(time.perf_counter() - begin)
            figures['embed_s_per_gb'] = statistics.median(embed_times) / (nbytes / GB)
            figures['detect_s_per_gb'] = statistics.median(detect_times) / (nbytes / GB)
            print('large: embed %.2f s/GB, detect %.2f s/GB (median of %d; %.1f MB)'
                  % (figures['embed_s_per_gb'], figures['detect_s_per_gb'], args.repeats, nbytes / 1e6))

        fp16 = detect(transform(marked, marked + '-fp16', to_fp16(torch)), key, args.threshold)
        int8 = detect(transform(marked, marked + '-int8', int8_round_trip(torch)), key, args.threshold)
        first, last = fine_tune(models, marked, marked + '-ft', steps, args.lr)
        tuned = detect(marked + '-ft', key, args.threshold)
        moved = relative_change(marked, marked + '-ft')
        print('%s: after fp16 cast z %.2f marked=%s; after int8 round trip z %.2f marked=%s (weights moved by %.2f%% of '
              'their RMS); after %d fine-tune steps (AdamW lr %g, loss %.3f -> %.3f, weights moved by %.1f%% of their '
              'RMS, the mark is %.1f%%) z %.2f marked=%s'
              % (label, fp16['z_score'], fp16['marked'], int8['z_score'], int8['marked'],
                 100 * relative_change(marked, marked + '-int8'), steps, args.lr, first, last, 100 * moved,
                 100 * args.strength, tuned['z_score'], tuned['marked']))
        seen = behaviour(models, plain, marked, PROMPTS[:args.prompts], args.new_tokens)
        for kind, text in (('mark', 'marked, bf16'), ('fp32', 'reference: unmarked computed in float32')):
            print('%s, %s: greedy tokens identical to the unmarked bf16 run for %d/%d prompts (%d new tokens); same '
                  'next token at %.1f%% of those positions; largest |logit difference| %.4g (logits sd %.3g)'
                  % (label, text, seen[kind]['same'], args.prompts, args.new_tokens, 100 * seen[kind]['agreement'],
                     seen[kind]['gap'], seen[kind]['scale']))
        for name, value in (('z', result['z_score']), ('fp16_z', fp16['z_score']), ('int8_z', int8['z_score']),
                            ('ft_z', tuned['z_score']), ('greedy_same', seen['mark']['same']),
                            ('logit_gap', seen['mark']['gap']), ('ref_same', seen['fp32']['same']),
                            ('ref_gap', seen['fp32']['gap'])):
            figures['%s_%s' % (label, name)] = value
        figures['%s_robust' % label] = fp16['marked'] and int8['marked'] and tuned['marked']

    print('total %.0f s' % (time.perf_counter() - started))
    labels = [label for label, dummy, dummy2 in sizes]
    print('model_watermark detected=%d/%d false=%d/%d %s greedy_same=%s max_logit_diff=%s fp32_ref_same=%s '
          'fp32_ref_logit_diff=%s embed_s_per_gb=%s detect_s_per_gb=%s ft_steps=%s'
          % (detected, total_marked, false, total_unmarked,
             ' '.join('%s_z=%.1f/%.1f/%.1f/%.1f' % (label, figures[label + '_z'], figures[label + '_fp16_z'],
                                                    figures[label + '_int8_z'], figures[label + '_ft_z'])
                      for label in labels),
             '/'.join('%d' % figures[label + '_greedy_same'] for label in labels) + '_of_%d' % args.prompts,
             '/'.join('%.3g' % figures[label + '_logit_gap'] for label in labels),
             '/'.join('%d' % figures[label + '_ref_same'] for label in labels) + '_of_%d' % args.prompts,
             '/'.join('%.3g' % figures[label + '_ref_gap'] for label in labels),
             '%.2f' % figures['embed_s_per_gb'] if 'embed_s_per_gb' in figures else 'na',
             '%.2f' % figures['detect_s_per_gb'] if 'detect_s_per_gb' in figures else 'na',
             '/'.join(str(steps) for dummy, dummy2, steps in sizes)))
    ok = (detected == total_marked and false <= 0.01 * total_unmarked
          and all(figures[label + '_robust'] for label in labels))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
