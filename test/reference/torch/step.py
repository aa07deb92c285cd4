"""One LoRA-DPO step in PyTorch, the reference the node tier compares Prefer's graphs with.

    /usr/bin/python3 step.py DIR

reads DIR/input.json (checkpoint folder, pairs as token ids, LoRA and optimizer settings, and the losses: each a
name, its `types` and `weights` as TRL's `loss_type` and `loss_weights` lists, and the settings they read) and
DIR/state.safetensors (LoRA weights by PEFT name, AdamW moments as `<name>.exp_avg`, `<name>.exp_avg_sq`);
writes DIR/output.json: per-sequence completion log-probs (adapter off and on), and per loss the loss, the
gradient norm before clipping, the clipped LoRA gradients and the weights and moments after one
torch.optim.AdamW step. With `unpaired` (completions labelled desirable or not, for KTO) instead of `pairs`: the
log-probs of the completions and of the mismatched ones (each prompt with the completion of the example before it
in the batch, the first with the last's), the KL estimate, and per loss the same step.
"""
import json
import os
import sys

import torch

from losses import LOSSES, UNPAIRED_LOSSES, PairLogps, dpo_loss, kl_estimate
from model import Lora, Model, read_safetensors


def side_logps(model, pairs, side, lora):
    return torch.stack([model.completion_logp(p['prompt'], p[side], lora) for p in pairs])


def adamw_step(lora, grads, state, settings):
    """One torch.optim.AdamW step after `settings['step'] - 1` earlier ones (moments from `state`), after
    clip_grad_norm_: the gradient norm before clipping, and per parameter the clipped gradient, the weights and
    the moments after the step."""
    params = [p.detach().clone().requires_grad_(True) for p in lora.params.values()]
    optimizer = torch.optim.AdamW(
        params,
        lr=settings['lr'],
        betas=(settings['beta1'], settings['beta2']),
        eps=settings['epsilon'],
        weight_decay=settings['weight_decay'],
    )
    for name, param, grad in zip(lora.params, params, grads):
        param.grad = grad.clone()
        optimizer.state[param] = {
            'step': torch.tensor(float(settings['step'] - 1)),
            'exp_avg': state[f'{name}.exp_avg'].clone(),
            'exp_avg_sq': state[f'{name}.exp_avg_sq'].clone(),
        }
    norm = torch.sqrt(sum((g * g).sum() for g in grads))
    if settings['max_grad_norm'] is not None:
        torch.nn.utils.clip_grad_norm_(params, settings['max_grad_norm'])
    clipped = [p.grad.clone() for p in params]
    optimizer.step()
    after = {}
    for name, param, grad in zip(lora.params, params, clipped):
        moments = optimizer.state[param]
        after[name] = {'clipped_grad': grad, 'next': param.detach(), 'exp_avg': moments['exp_avg'], 'exp_avg_sq': moments['exp_avg_sq']}
    return norm, after


def step_results(loss, lora, state, settings):
    """The loss, the gradient norm and the AdamW step of one loss, as output.json holds them."""
    grads = torch.autograd.grad(loss, list(lora.params.values()), retain_graph=True)
    norm, after = adamw_step(lora, grads, state, settings)
    result = {'loss': loss.item(), 'grad_norm': norm.item()}
    for field in ('clipped_grad', 'next', 'exp_avg', 'exp_avg_sq'):
        result[field] = {n: values[field].flatten().tolist() for n, values in after.items()}
    return result


def paired(spec, model, lora, state):
    pairs = spec['pairs']
    with torch.no_grad():
        reference = {side: side_logps(model, pairs, side, None) for side in ('chosen', 'rejected')}
    policy = {side: side_logps(model, pairs, side, lora) for side in ('chosen', 'rejected')}
    logps = PairLogps(
        policy['chosen'],
        policy['rejected'],
        reference['chosen'],
        reference['rejected'],
        torch.tensor([float(len(p['chosen'])) for p in pairs]),
        torch.tensor([float(len(p['rejected'])) for p in pairs]),
    )
    output = {
        'reference_logps': {side: v.tolist() for side, v in reference.items()},
        'policy_logps': {side: v.detach().tolist() for side, v in policy.items()},
        'losses': {},
    }
    for config in spec['losses']:
        loss = dpo_loss(config['types'], config['weights'], logps, config)
        output['losses'][config['name']] = step_results(loss, lora, state, spec['optimizer'])
    return output


def unpaired(spec, model, lora, state):
    examples = spec['unpaired']
    # TRL's KL completions: the batch's completions moved along by one
    mismatched = [{'prompt': e['prompt'], 'completion': examples[i - 1]['completion']} for i, e in enumerate(examples)]
    desirable = torch.tensor([bool(e['desirable']) for e in examples])
    with torch.no_grad():
        reference = side_logps(model, examples, 'completion', None)
        reference_mismatched = side_logps(model, mismatched, 'completion', None)
        policy_mismatched = side_logps(model, mismatched, 'completion', lora)
    policy = side_logps(model, examples, 'completion', lora)
    z0 = kl_estimate(policy_mismatched, reference_mismatched)
    output = {
        'reference_logps': reference.tolist(),
        'policy_logps': policy.detach().tolist(),
        'mismatched_reference_logps': reference_mismatched.tolist(),
        'mismatched_policy_logps': policy_mismatched.tolist(),
        'kl': z0.item(),
        'losses': {},
    }
    for config in spec['losses']:
        loss = UNPAIRED_LOSSES[config['types'][0]](policy, reference, desirable, z0, config)
        output['losses'][config['name']] = step_results(loss, lora, state, spec['optimizer'])
    return output


def main(folder):
    with open(os.path.join(folder, 'input.json')) as f:
        spec = json.load(f)
    known = UNPAIRED_LOSSES if 'unpaired' in spec else LOSSES
    missing = sorted({t for loss in spec['losses'] for t in loss['types'] if t not in known})
    if missing:
        raise SystemExit(f'reference: no formula for loss {", ".join(missing)} in test/reference/torch/losses.py')
    model = Model(spec['checkpoint'])
    state = read_safetensors(os.path.join(folder, 'state.safetensors'))
    adapter = spec['lora']
    lora = Lora({n: t for n, t in state.items() if n.endswith('.lora_A.weight') or n.endswith('.lora_B.weight')}, adapter['rank'], adapter['alpha'], adapter['rs_lora'])
    output = (unpaired if 'unpaired' in spec else paired)(spec, model, lora, state)
    with open(os.path.join(folder, 'output.json'), 'w') as f:
        json.dump(output, f)


if __name__ == '__main__':
    torch.set_num_threads(1)
    main(sys.argv[1])
