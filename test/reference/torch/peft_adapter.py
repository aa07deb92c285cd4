"""A LoRA adapter saved as PEFT's save_pretrained saves it, and the PyTorch model's logits with it applied.

    /usr/bin/python3 peft_adapter.py CHECKPOINT OUT_DIR SPEC_JSON

SPEC_JSON: {"rank", "alpha", "rs_lora", "targets": ["q_proj", ...], "seed", "tokens": [...]}. Writes OUT_DIR/
adapter_config.json and OUT_DIR/adapter_model.safetensors (F32, tensors named
base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight [r, in] and .lora_B.weight [out, r]), then prints
{"logits": [[...], ...]}: one row per token of the sequence, the adapter applied, in float64.
"""
import json
import os
import struct
import sys

import numpy as np
import torch

from model import Lora, Model

MODULES = {
    'q_proj': 'self_attn', 'k_proj': 'self_attn', 'v_proj': 'self_attn', 'o_proj': 'self_attn',
    'gate_proj': 'mlp', 'up_proj': 'mlp', 'down_proj': 'mlp',
}


def write_safetensors(path, tensors):
    """F32 tensors, little-endian, in name order, with PEFT's {"format": "pt"} metadata."""
    header = {'__metadata__': {'format': 'pt'}}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype='<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(tensors[name].shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header, separators=(',', ':')).encode()
    encoded += b' ' * (-len(encoded) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(encoded)) + encoded + b''.join(blobs))


def adapter_config(checkpoint, spec):
    """The fields PEFT's LoraConfig.save_pretrained writes for a causal LM."""
    return {
        'alpha_pattern': {}, 'auto_mapping': None, 'base_model_name_or_path': checkpoint, 'bias': 'none',
        'fan_in_fan_out': False, 'inference_mode': True, 'init_lora_weights': True, 'layers_pattern': None,
        'layers_to_transform': None, 'lora_alpha': spec['alpha'], 'lora_dropout': 0.05, 'megatron_config': None,
        'modules_to_save': None, 'peft_type': 'LORA', 'r': spec['rank'], 'rank_pattern': {}, 'revision': None,
        'target_modules': spec['targets'], 'task_type': 'CAUSAL_LM', 'use_dora': False, 'use_rslora': spec['rs_lora'],
    }


def main(checkpoint, out, spec):
    model = Model(checkpoint)
    rng = np.random.default_rng(spec['seed'])
    tensors = {}
    for layer in range(model.layers):
        for target in spec['targets']:
            module = f'model.layers.{layer}.{MODULES[target]}.{target}'
            out_features, in_features = model.weights[f'{module}.weight'].shape
            tensors[Lora.name(module, 'A')] = rng.uniform(-0.2, 0.2, (spec['rank'], in_features)).astype(np.float32)
            tensors[Lora.name(module, 'B')] = rng.uniform(-0.2, 0.2, (out_features, spec['rank'])).astype(np.float32)
    os.makedirs(out, exist_ok=True)
    write_safetensors(os.path.join(out, 'adapter_model.safetensors'), tensors)
    with open(os.path.join(out, 'adapter_config.json'), 'w') as f:
        json.dump(adapter_config(checkpoint, spec), f, indent=2)
    lora = Lora({n: torch.from_numpy(t.astype(np.float64)) for n, t in tensors.items()}, spec['rank'], spec['alpha'], spec['rs_lora'])
    with torch.no_grad():
        logits = model.logits(spec['tokens'], lora)
    json.dump({'logits': logits.tolist()}, sys.stdout)


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))
