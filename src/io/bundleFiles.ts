/**
 * The text of a training bundle's files: train.py (TRL with a PEFT LoRA config mirroring a round's options),
 * the accelerate configs for several GPUs, and the README that says how to launch it.
 */
import { FIM_SPELLINGS } from '../engine/hf/tokenizer.ts';
import { type TrainingValues, trainingFrom } from '../rounds/options.ts';
import { InputError } from '../inputError.ts';

/** TRL's unpaired trainer: `--loss kto` makes a bundle for KTOTrainer instead of DPOTrainer. */
export const KTO_LOSS = 'kto';

/** What train.py sets, from a round's options. */
export interface BundleTraining {
  trainer: 'dpo' | 'kto';
  lossTypes: readonly string[];
  lossWeights: readonly number[] | undefined;
  beta: number;
  labelSmoothing: number;
  discopopTau: number | undefined;
  /** KTO's weights of the desirable and undesirable examples. */
  desirableWeight: number;
  undesirableWeight: number;
  learningRate: number;
  epochs: number;
  batch: number;
  maxLength: number;
  warmupRatio: number;
  seed: number;
  lora: { r: number; alpha: number; rsLora: boolean; targetModules: readonly string[] | undefined };
}

/** The round's options as `prefer train` checks them; `--loss kto` (alone) picks TRL's KTOTrainer. */
export function bundleTraining(values: TrainingValues): BundleTraining {
  const kto = values.loss.includes(KTO_LOSS);
  if (kto && values.loss.length > 1)
    throw new InputError(
      `--loss: ${KTO_LOSS} trains on unpaired data and cannot be combined with other losses`,
    );
  const checked = trainingFrom(values);
  const { loss, lora } = checked;
  return {
    trainer: kto ? 'kto' : 'dpo',
    lossTypes: kto ? [KTO_LOSS] : typeof loss.type === 'string' ? [loss.type] : [...loss.type],
    lossWeights: kto ? undefined : loss.weights,
    beta: loss.beta,
    labelSmoothing: loss.labelSmoothing ?? 0,
    discopopTau: loss.discopopTau,
    desirableWeight: loss.desirableWeight ?? 1,
    undesirableWeight: loss.undesirableWeight ?? 1,
    learningRate: checked.learningRate,
    epochs: checked.epochs,
    batch: checked.pairsPerStep,
    maxLength: checked.maxLength,
    warmupRatio: checked.warmupRatio,
    seed: checked.seed,
    lora: {
      r: lora.rank,
      alpha: lora.alpha,
      rsLora: lora.rsLora === true,
      targetModules: lora.targetModules,
    },
  };
}

/** A value as Python source. */
function py(v: unknown): string {
  if (v === undefined || v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(py).join(', ')}]`;
  throw new Error(`no Python form for ${typeof v}`);
}

/** `Name(\n  key=value,\n …)`: one keyword a line, so a reader (and the bundle's test) sees every field. */
function call(
  name: string,
  args: Record<string, unknown>,
  indent: string,
  more: readonly string[] = [],
): string {
  const value = (v: unknown) =>
    typeof v === 'object' && v !== null && 'code' in v ? (v as { code: string }).code : py(v);
  const lines = [...Object.entries(args).map(([k, v]) => `${k}=${value(v)},`), ...more];
  return `${name}(\n${lines.map((line) => `${indent}    ${line}`).join('\n')}\n${indent})`;
}

const code = (text: string) => ({ code: text });

/**
 * The fill-in-the-middle markers train.py looks for in the model's vocabulary, as the sampler does: a prompt that
 * had text after the cursor is trained as the model saw it, prefix marker, prefix, suffix marker, suffix, middle
 * marker. CodeLlama's markers are spelled with SentencePiece spaces, which text cannot give: its prompts keep the
 * prefix alone (train.py says so).
 */
const FIM_MARKERS = FIM_SPELLINGS.filter((s) => s.style !== 'codellama').map(({ prefix, suffix, middle }) => ({ prefix, suffix, middle }));

export function trainPy(t: BundleTraining): string {
  const kto = t.trainer === 'kto';
  const Config = kto ? 'KTOConfig' : 'DPOConfig';
  const Trainer = kto ? 'KTOTrainer' : 'DPOTrainer';
  const data = kto ? 'unpaired.jsonl' : 'pairs.jsonl';
  const columns = kto ? ['prompt', 'completion', 'label'] : ['prompt', 'chosen', 'rejected'];
  const lossArgs: Record<string, unknown> = kto
    ? {
        loss_type: KTO_LOSS,
        beta: t.beta,
        desirable_weight: t.desirableWeight,
        undesirable_weight: t.undesirableWeight,
      }
    : {
        loss_type: t.lossTypes,
        ...(t.lossWeights ? { loss_weights: t.lossWeights } : {}),
        beta: t.beta,
        label_smoothing: t.labelSmoothing,
        ...(t.discopopTau !== undefined ? { discopop_tau: t.discopopTau } : {}),
      };
  const config = call(
    Config,
    {
      output_dir: code('args.output_dir'),
      ...lossArgs,
      learning_rate: t.learningRate,
      lr_scheduler_type: 'linear',
      num_train_epochs: t.epochs,
      per_device_train_batch_size: t.batch,
      max_length: t.maxLength,
      seed: t.seed,
      logging_steps: 1,
      save_strategy: 'epoch',
      report_to: 'none',
    },
    '    ',
    ['**warmup(),'],
  );
  const lora = call(
    'LoraConfig',
    {
      task_type: 'CAUSAL_LM',
      r: t.lora.r,
      lora_alpha: t.lora.alpha,
      use_rslora: t.lora.rsLora,
      target_modules: t.lora.targetModules ? [...t.lora.targetModules] : 'all-linear',
      lora_dropout: 0.0,
    },
    '    ',
  );
  return `"""Trains a LoRA adapter on preferences exported by Prefer, with TRL's ${Trainer}.

The options mirror the Prefer round this bundle was made with. Launch it with accelerate (see README.md):

    accelerate launch --config_file accelerate/zero3.yaml train.py --model PATH_OR_HUB_ID
"""

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent
WARMUP_RATIO = ${py(t.warmupRatio)}
# Fill-in-the-middle markers by model family (Prefer's sampler builds its prompts with the same ones).
FIM_MARKERS = ${JSON.stringify(FIM_MARKERS)}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the base model: a local folder or a Hugging Face Hub id")
    parser.add_argument("--output-dir", default=str(HERE / "adapter"), help="where the PEFT adapter is saved")
    parser.add_argument("--data", default=str(HERE / ${py(data)}), help="the JSONL training data")
    return parser.parse_args()


def warmup():
    """A warmup fraction: transformers 5 takes it as a float warmup_steps, earlier versions as warmup_ratio."""
    import transformers

    major = int(transformers.__version__.split(".")[0])
    return {"warmup_steps": WARMUP_RATIO} if major >= 5 else {"warmup_ratio": WARMUP_RATIO}


def fim_prompts(dataset, tokenizer):
    """Each prompt as the model saw it: with its suffix between the model's FIM markers when it had one."""
    vocab = tokenizer.get_vocab()
    markers = next(
        (found for found in ([next((t for t in m[k] if t in vocab), None) for k in ("prefix", "suffix", "middle")] for m in FIM_MARKERS) if all(found)),
        None,
    )
    if "suffix" not in dataset.column_names:
        return dataset
    if markers is None:
        if any(dataset["suffix"]):
            print("train.py: the model has no FIM markers Prefer knows; prompts keep the text before the cursor only")
        return dataset
    before, after, fill = markers
    return dataset.map(lambda e: {"prompt": f"{before}{e['prompt']}{after}{e['suffix']}{fill}" if e["suffix"] else e["prompt"]})


def main():
    args = parse_args()
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer
    from trl import ${Config}, ${Trainer}

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    dataset = fim_prompts(load_dataset("json", data_files=args.data, split="train"), tokenizer)
    # Prefer's other columns (source, created_at, ...) are left out: the trainer reads these only.
    dataset = dataset.select_columns(${py(columns)})
    peft_config = ${lora}
    training_args = ${config}
    trainer = ${Trainer}(
        model=args.model, args=training_args, train_dataset=dataset, processing_class=tokenizer, peft_config=peft_config
    )
    trainer.train()
    trainer.save_model(args.output_dir)


if __name__ == "__main__":
    main()
`;
}

const ACCELERATE_COMMON = `compute_environment: LOCAL_MACHINE
debug: false
downcast_bf16: 'no'
machine_rank: 0
main_training_function: main
mixed_precision: bf16
num_machines: 1
num_processes: 8
rdzv_backend: static
same_network: true
tpu_env: []
tpu_use_cluster: false
tpu_use_sudo: false
use_cpu: false
`;

/** DeepSpeed ZeRO-3 on one machine's GPUs (--num_processes overrides the 8). */
export const ZERO3_YAML = `distributed_type: DEEPSPEED
deepspeed_config:
  deepspeed_multinode_launcher: standard
  offload_optimizer_device: none
  offload_param_device: none
  zero3_init_flag: true
  zero3_save_16bit_model: true
  zero_stage: 3
${ACCELERATE_COMMON}`;

/** PyTorch FSDP, fully sharded, wrapping each transformer block. */
export const FSDP_YAML = `distributed_type: FSDP
fsdp_config:
  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP
  fsdp_backward_prefetch: BACKWARD_PRE
  fsdp_cpu_ram_efficient_loading: true
  fsdp_forward_prefetch: false
  fsdp_offload_params: false
  fsdp_sharding_strategy: FULL_SHARD
  fsdp_state_dict_type: FULL_STATE_DICT
  fsdp_sync_module_states: true
  fsdp_use_orig_params: true
${ACCELERATE_COMMON}`;

export function bundleReadme(t: BundleTraining, counts: { pairs: number; unpaired: number }): string {
  const trainer = t.trainer === 'kto' ? 'KTOTrainer' : 'DPOTrainer';
  const data = t.trainer === 'kto' ? 'unpaired.jsonl' : 'pairs.jsonl';
  return `# Preference training bundle

Made by \`prefer export --bundle\`. It trains a LoRA adapter with TRL's ${trainer} on ${data}, with the options
of the Prefer round it was made with (loss ${t.lossTypes.join(', ')}, β ${t.beta}, learning rate ${t.learningRate},
${t.epochs} epoch${t.epochs === 1 ? '' : 's'}, LoRA r ${t.lora.r}, alpha ${t.lora.alpha}${t.lora.rsLora ? ', rsLoRA' : ''}).

| file | what |
| --- | --- |
| pairs.jsonl | ${counts.pairs} preference pairs, TRL's preference format (\`prompt\`, \`chosen\`, \`rejected\`) |
| unpaired.jsonl | ${counts.unpaired} judged completions, TRL's unpaired format (\`prompt\`, \`completion\`, \`label\`) |
| train.py | the training script (\`--model\` is required) |
| accelerate/zero3.yaml | DeepSpeed ZeRO-3 on one machine |
| accelerate/fsdp.yaml | PyTorch FSDP on one machine |

The prompts are the code before the cursor; the code after it is kept in the \`suffix\` column for reference.
File paths and workspace names are left out.

## Run

    pip install trl peft accelerate datasets deepspeed
    accelerate launch --config_file accelerate/zero3.yaml train.py --model Qwen/Qwen2.5-Coder-1.5B
    accelerate launch --config_file accelerate/fsdp.yaml --num_processes 4 train.py --model /models/base

\`--num_processes\` is the number of GPUs (the configs say 8). The adapter is saved to \`adapter/\` (or
\`--output-dir\`) in PEFT's format, which Prefer loads as it loads its own.
`;
}
