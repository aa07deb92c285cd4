"""One LoRA-DPO step in PyTorch eager, timed: the anchor `npm run bench:train` compares Prefer's step with.

    /usr/bin/python3 bench/torch-step.py SPEC_JSON

SPEC_JSON: {"shape": {hidden, layers, heads, kv_heads, head_dim, intermediate, vocab, tied, qkv_bias, rope_theta,
norm_eps}, "length": T, "threads": N, "steps": S, "rank": R}. Prints one JSON line: best and all step times, the
reference forward and the policy part timed apart, and the process's peak RSS.

What it runs is what a CPU user of TRL + PEFT runs per pair: the model of test/reference/torch/model.py in float32
(one sequence at a time, eager attention, full-vocabulary log-softmax, as transformers' eager path does), random
weights of the distribution Prefer's benchmark uses (matrices uniform ±0.02, norm gains 1 ± 0.1), LoRA of rank R
on every linear (A kaiming-uniform, B zero, alpha 2R), one pair = two rows whose second halves are the
completions; the reference forward without the adapter (TRL's default when log-probs are not precomputed), the
policy forward and backward, the sigmoid DPO loss (β 0.1), gradient clipping at 1 and one torch.optim.AdamW step.
PyTorch has no CPU kernels for int8/int4 training, so the base stays float32 whatever Prefer's storage.
"""
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'reference', 'torch'))
import model as reference  # noqa: E402

reference.DTYPE = torch.float32
MODULES = ('self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj')


def linear_shapes(s):
    """[out, in] of each adapted linear of a layer."""
    q, kv, c, f = s['heads'] * s['head_dim'], s['kv_heads'] * s['head_dim'], s['hidden'], s['intermediate']
    return dict(zip(MODULES, ([q, c], [kv, c], [kv, c], [c, q], [f, c], [f, c], [c, f])))


def random_model(s):
    """reference.Model over random float32 weights in shape `s`, without a checkpoint folder."""
    m = reference.Model.__new__(reference.Model)
    m.model_type, m.layers, m.heads, m.kv_heads, m.head_dim = 'qwen2' if s['qkv_bias'] else 'llama', s['layers'], s['heads'], s['kv_heads'], s['head_dim']
    m.eps, m.rope_theta, m.tied, m.qkv_bias = s['norm_eps'], s['rope_theta'], s['tied'], s['qkv_bias']
    uniform = lambda *shape: torch.empty(*shape).uniform_(-0.02, 0.02)  # noqa: E731
    gain = lambda n: 1 + 0.1 * torch.empty(n).uniform_(-1, 1)  # noqa: E731
    w = {'model.embed_tokens.weight': uniform(s['vocab'], s['hidden']), 'model.norm.weight': gain(s['hidden'])}
    if not s['tied']:
        w['lm_head.weight'] = uniform(s['vocab'], s['hidden'])
    for layer in range(s['layers']):
        p = f'model.layers.{layer}'
        w[f'{p}.input_layernorm.weight'] = gain(s['hidden'])
        w[f'{p}.post_attention_layernorm.weight'] = gain(s['hidden'])
        for module, (out_features, in_features) in linear_shapes(s).items():
            w[f'{p}.{module}.weight'] = uniform(out_features, in_features)
            if s['qkv_bias'] and module in MODULES[:3]:
                w[f'{p}.{module}.bias'] = uniform(out_features)
    m.weights = w
    return m


def random_lora(s, rank):
    tensors = {}
    for layer in range(s['layers']):
        for module, (out_features, in_features) in linear_shapes(s).items():
            name = f'model.layers.{layer}.{module}'
            bound = 1 / in_features**0.5
            tensors[reference.Lora.name(name, 'A')] = torch.empty(rank, in_features).uniform_(-bound, bound)
            tensors[reference.Lora.name(name, 'B')] = torch.zeros(out_features, rank)
    return reference.Lora(tensors, rank, 2 * rank, False)


def main(spec):
    s, length, rank = spec['shape'], spec['length'], spec['rank']
    torch.set_num_threads(spec['threads'])
    torch.manual_seed(0)
    m = random_model(s)
    lora = random_lora(s, rank)
    params = list(lora.params.values())
    optimizer = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
    # the same token ids as Prefer's side: row 0 chosen, row 1 rejected, each half prompt, half completion
    ids = [(i * 7919) % s['vocab'] for i in range(2 * length)]
    rows = [ids[:length], ids[length:]]
    half = length // 2

    def logps(lora_or_none):
        return [m.completion_logp(row[:half], row[half:], lora_or_none) for row in rows]

    def step():
        t0 = time.perf_counter()
        with torch.no_grad():
            ref_chosen, ref_rejected = logps(None)
        t1 = time.perf_counter()
        chosen, rejected = logps(lora)
        loss = -torch.nn.functional.logsigmoid(0.1 * ((chosen - ref_chosen) - (rejected - ref_rejected)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        t2 = time.perf_counter()
        return t2 - t0, t1 - t0, t2 - t1

    warm_up = step()
    # steps 0: the warm-up step alone, as Prefer's side reports it then
    times = [step() for _ in range(spec['steps'])] or [warm_up]
    best = min(times)
    print(
        json.dumps(
            {
                'length': length,
                'threads': torch.get_num_threads(),
                'torch': torch.__version__,
                'step_s': [round(t[0], 3) for t in times],
                'best_step_s': round(best[0], 3),
                'reference_s': round(min(t[1] for t in times), 3),
                'policy_s': round(min(t[2] for t in times), 3),
                'peak_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
    )


if __name__ == '__main__':
    main(json.loads(sys.argv[1]))
