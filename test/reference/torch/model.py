"""Llama and Qwen2 causal LMs with LoRA, written from the Hugging Face definitions for the PyTorch reference tier.

Reads a checkpoint folder (config.json + model.safetensors in F32) with numpy alone and runs one unpadded
sequence at a time in float64: RMSNorm, rotary embeddings (rotate-half), grouped-query attention with a causal
mask, SwiGLU MLP, q/k/v bias for Qwen2, tied or untied head; LoRA adds scale · B(A x) to the adapted linears.
"""
import json
import math
import os
import struct

import numpy as np
import torch

DTYPE = torch.float64
SUPPORTED = ('llama', 'qwen2')


def read_safetensors(path):
    """Tensors by name as float64 torch tensors: 8-byte little-endian header length, JSON header, raw data."""
    with open(path, 'rb') as f:
        data = f.read()
    (header_length,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8 : 8 + header_length])
    base = 8 + header_length
    tensors = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        if info['dtype'] != 'F32':
            raise ValueError(f'{path}: {name} is {info["dtype"]}; the reference reads F32 only')
        start, end = info['data_offsets']
        array = np.frombuffer(data, dtype='<f4', count=(end - start) // 4, offset=base + start).reshape(info['shape'])
        tensors[name] = torch.from_numpy(array.astype(np.float64))
    return tensors


class Model:
    """A checkpoint's config and weights, and the forward pass."""

    def __init__(self, folder):
        with open(os.path.join(folder, 'config.json')) as f:
            config = json.load(f)
        self.model_type = config['model_type']
        if self.model_type not in SUPPORTED:
            raise ValueError(f'reference: model_type {self.model_type} is not one of {SUPPORTED}')
        if config.get('hidden_act', 'silu') != 'silu':
            raise ValueError(f'reference: hidden_act {config["hidden_act"]}')
        rope = config.get('rope_parameters') or config.get('rope_scaling') or {}
        if rope.get('rope_type', 'default') != 'default':
            raise ValueError(f'reference: rope_type {rope["rope_type"]}')
        self.layers = config['num_hidden_layers']
        self.heads = config['num_attention_heads']
        self.kv_heads = config['num_key_value_heads']
        self.head_dim = config.get('head_dim') or config['hidden_size'] // self.heads
        self.eps = config['rms_norm_eps']
        self.rope_theta = config.get('rope_theta', rope.get('rope_theta'))
        self.tied = config.get('tie_word_embeddings', False)
        self.qkv_bias = self.model_type == 'qwen2' or config.get('attention_bias', False)
        self.weights = read_safetensors(os.path.join(folder, 'model.safetensors'))

    def rms_norm(self, x, name):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weights[name]

    def linear(self, x, module, lora):
        y = x @ self.weights[f'{module}.weight'].T
        bias = self.weights.get(f'{module}.bias')
        if bias is not None:
            y = y + bias
        return y if lora is None else y + lora.delta(module, x)

    def rotary(self, length):
        """cos and sin [length, head_dim] of the rotate-half convention."""
        inv_freq = 1.0 / (self.rope_theta ** (torch.arange(0, self.head_dim, 2, dtype=DTYPE) / self.head_dim))
        angles = torch.arange(length, dtype=DTYPE)[:, None] * inv_freq[None, :]
        angles = torch.cat([angles, angles], dim=-1)
        return angles.cos(), angles.sin()

    def attention(self, x, prefix, lora, cos, sin):
        length = x.shape[0]

        def heads(module, count):
            return self.linear(x, f'{prefix}.self_attn.{module}', lora).view(length, count, self.head_dim).transpose(0, 1)

        def rotate(t):
            half = self.head_dim // 2
            return t * cos + torch.cat([-t[..., half:], t[..., :half]], dim=-1) * sin

        if self.qkv_bias and f'{prefix}.self_attn.q_proj.bias' not in self.weights:
            raise ValueError(f'reference: {self.model_type} without q/k/v bias')
        q = rotate(heads('q_proj', self.heads))
        group = self.heads // self.kv_heads
        k = rotate(heads('k_proj', self.kv_heads)).repeat_interleave(group, dim=0)
        v = heads('v_proj', self.kv_heads).repeat_interleave(group, dim=0)
        scores = q @ k.transpose(1, 2) / math.sqrt(self.head_dim)
        future = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
        context = torch.softmax(scores.masked_fill(future, float('-inf')), dim=-1) @ v
        return self.linear(context.transpose(0, 1).reshape(length, self.heads * self.head_dim), f'{prefix}.self_attn.o_proj', lora)

    def mlp(self, x, prefix, lora):
        gate = self.linear(x, f'{prefix}.mlp.gate_proj', lora)
        up = self.linear(x, f'{prefix}.mlp.up_proj', lora)
        return self.linear(torch.nn.functional.silu(gate) * up, f'{prefix}.mlp.down_proj', lora)

    def logits(self, tokens, lora=None):
        """[len(tokens), vocab] for one sequence; the adapter applies when `lora` is given."""
        embedding = self.weights['model.embed_tokens.weight']
        x = embedding[torch.tensor(tokens)]
        cos, sin = self.rotary(len(tokens))
        for layer in range(self.layers):
            prefix = f'model.layers.{layer}'
            x = x + self.attention(self.rms_norm(x, f'{prefix}.input_layernorm.weight'), prefix, lora, cos, sin)
            x = x + self.mlp(self.rms_norm(x, f'{prefix}.post_attention_layernorm.weight'), prefix, lora)
        head = embedding if self.tied else self.weights['lm_head.weight']
        return self.rms_norm(x, 'model.norm.weight') @ head.T

    def completion_logp(self, prompt, completion, lora=None):
        """Summed log-probability of `completion` following `prompt`."""
        tokens = list(prompt) + list(completion)
        logps = torch.log_softmax(self.logits(tokens, lora)[:-1], dim=-1)
        predicted = torch.arange(len(prompt) - 1, len(tokens) - 1)
        return logps[predicted, torch.tensor(tokens[len(prompt) :])].sum()


class Lora:
    """LoRA weights by PEFT name (base_model.model.<module>.lora_A.weight [r, in], lora_B.weight [out, r]): the
    linears with weights here are the adapted ones."""

    def __init__(self, tensors, rank, alpha, rs_lora):
        self.scale = alpha / math.sqrt(rank) if rs_lora else alpha / rank
        self.params = {name: t.clone().requires_grad_(True) for name, t in tensors.items()}

    @staticmethod
    def name(module, matrix):
        return f'base_model.model.{module}.lora_{matrix}.weight'

    def delta(self, module, x):
        a = self.params.get(self.name(module, 'A'))
        if a is None:
            return 0
        return self.scale * (x @ a.T) @ self.params[self.name(module, 'B')].T
