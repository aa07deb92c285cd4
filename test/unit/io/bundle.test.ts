import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { prefer, preferJson } from '../cli/helpers.ts';
import { sampleStore, tempDir } from './helpers.ts';

const fixtures = join(import.meta.dirname, '../../fixtures/io');
const fields = JSON.parse(readFileSync(join(fixtures, 'trl-peft-accelerate-fields.json'), 'utf8')) as {
  DPOConfig: string[];
  KTOConfig: string[];
  LoraConfig: string[];
  accelerate: { top: string[]; deepspeed_config: string[]; fsdp_config: string[] };
};
const dir = tempDir('bundle');
const db = join(dir, 'prefer.sqlite');

/** The keyword names of the `Name(` call in train.py, one a line as the bundle writes them. */
function keywords(source: string, name: string): Map<string, string> {
  const start = source.indexOf(`${name}(\n`);
  assert.ok(start >= 0, `train.py calls ${name}`);
  const body = source.slice(start + name.length + 2, source.indexOf('\n    )', start));
  return new Map(
    body
      .split('\n')
      .map((line) => /^\s+([a-z_]+)=(.*),$/.exec(line))
      .filter((m) => m !== null)
      .map((m) => [m[1]!, m[2]!]),
  );
}

/** Top-level and nested keys of the flat YAML the bundle writes. */
function yamlKeys(text: string): { top: string[]; nested: Map<string, string[]> } {
  const top: string[] = [];
  const nested = new Map<string, string[]>();
  let parent = '';
  for (const line of text.split('\n')) {
    const m = /^( *)([a-z0-9_]+):/.exec(line);
    if (!m) continue;
    if (m[1] === '') {
      top.push((parent = m[2]!));
    } else nested.set(parent, [...(nested.get(parent) ?? []), m[2]!]);
  }
  return { top, nested };
}

const jsonl = (file: string) =>
  readFileSync(file, 'utf8')
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

function compiles(file: string): void {
  const r = spawnSync('python3', ['-m', 'py_compile', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

describe('prefer export --bundle', () => {
  before(async () => {
    sampleStore(db).close();
    const r = prefer('import', join(fixtures, 'continue/autocomplete.jsonl'), '--db', db);
    assert.equal(r.code, 0, r.stderr);
  });

  it("writes DPO data, a train.py whose DPOConfig and LoraConfig fields are TRL's and PEFT's, and accelerate configs", () => {
    const out = join(dir, 'dpo');
    const r = preferJson(
      'export',
      '--db',
      db,
      '--bundle',
      out,
      '--loss',
      'sigmoid,sft',
      '--loss-weights',
      '1,0.2',
      '--beta',
      '0.25',
      '--lr',
      '2e-5',
      '--epochs',
      '3',
      '--lora-r',
      '8',
      '--lora-alpha',
      '24',
      '--rslora',
      '--target-modules',
      'q_proj,v_proj',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(out).sort(), [
      'README.md',
      'accelerate',
      'pairs.jsonl',
      'train.py',
      'unpaired.jsonl',
    ]);

    const pairs = jsonl(join(out, 'pairs.jsonl'));
    assert.equal(pairs.length, r.value.pairs);
    const stats = preferJson('stats', '--db', db).value as { pairs: number };
    assert.equal(pairs.length, stats.pairs);
    for (const p of pairs) {
      assert.equal(typeof p.prompt, 'string');
      assert.equal(typeof p.chosen, 'string');
      assert.equal(typeof p.rejected, 'string');
      assert.ok(!('file_path' in p) && !('workspace' in p), 'no paths in a bundle');
    }
    const unpaired = jsonl(join(out, 'unpaired.jsonl'));
    // Each judgment once: the continue pair is made of two judged completions, a ranking's pairs share texts.
    const keys = unpaired.map((u) => JSON.stringify([u.prompt, u.suffix, u.completion, u.label]));
    assert.equal(new Set(keys).size, keys.length, 'no judgment twice');
    for (const p of pairs) {
      assert.ok(
        keys.includes(JSON.stringify([p.prompt, p.suffix, p.chosen, true])),
        'the chosen completion, desirable',
      );
      assert.ok(
        keys.includes(JSON.stringify([p.prompt, p.suffix, p.rejected, false])),
        'the rejected one, not',
      );
    }
    assert.equal(unpaired.filter((u) => u.source === 'continue').length, 3, 'the three judged completions');
    assert.ok(
      unpaired.every(
        (u) => typeof u.label === 'boolean' && typeof u.completion === 'string' && !('file_path' in u),
      ),
    );

    const train = readFileSync(join(out, 'train.py'), 'utf8');
    compiles(join(out, 'train.py'));
    assert.match(train, /from trl import DPOConfig, DPOTrainer/);
    const config = keywords(train, 'DPOConfig');
    for (const key of config.keys())
      assert.ok(fields.DPOConfig.includes(key), `DPOConfig has no field ${key}`);
    assert.equal(config.get('loss_type'), '["sigmoid", "sft"]');
    assert.equal(config.get('loss_weights'), '[1, 0.2]');
    assert.equal(config.get('beta'), '0.25');
    assert.equal(config.get('learning_rate'), '0.00002');
    assert.equal(config.get('num_train_epochs'), '3');
    const lora = keywords(train, 'LoraConfig');
    for (const key of lora.keys())
      assert.ok(fields.LoraConfig.includes(key), `LoraConfig has no field ${key}`);
    assert.deepEqual(
      [lora.get('r'), lora.get('lora_alpha'), lora.get('use_rslora'), lora.get('target_modules')],
      ['8', '24', 'True', '["q_proj", "v_proj"]'],
    );
    assert.ok(
      fields.DPOConfig.includes('warmup_steps') && fields.DPOConfig.includes('warmup_ratio'),
      'warmup() sets one of these',
    );

    for (const [file, distributed, section] of [
      ['zero3.yaml', 'DEEPSPEED', 'deepspeed_config'],
      ['fsdp.yaml', 'FSDP', 'fsdp_config'],
    ] as const) {
      const text = readFileSync(join(out, 'accelerate', file), 'utf8');
      assert.match(text, new RegExp(`^distributed_type: ${distributed}$`, 'm'));
      const { top, nested } = yamlKeys(text);
      for (const key of top)
        assert.ok(fields.accelerate.top.includes(key), `${file}: accelerate has no key ${key}`);
      assert.ok((nested.get(section) ?? []).length > 0, `${file} has a ${section}`);
      for (const key of nested.get(section)!)
        assert.ok(fields.accelerate[section].includes(key), `${file}: no ${section} key ${key}`);
    }
    assert.match(
      readFileSync(join(out, 'README.md'), 'utf8'),
      /accelerate launch --config_file accelerate\/zero3\.yaml train\.py --model/,
    );
  });

  it('with --loss kto writes a KTOTrainer script on the unpaired data', () => {
    const out = join(dir, 'kto');
    const r = preferJson('export', '--db', db, '--bundle', out, '--loss', 'kto', '--beta', '0.3');
    assert.equal(r.code, 0, r.stderr);
    const train = readFileSync(join(out, 'train.py'), 'utf8');
    compiles(join(out, 'train.py'));
    assert.match(train, /from trl import KTOConfig, KTOTrainer/);
    assert.match(train, /HERE \/ "unpaired\.jsonl"/);
    const config = keywords(train, 'KTOConfig');
    for (const key of config.keys())
      assert.ok(fields.KTOConfig.includes(key), `KTOConfig has no field ${key}`);
    assert.equal(config.get('loss_type'), '"kto"');
    assert.equal(config.get('beta'), '0.3');
  });

  it("train.py gives a prompt that had a suffix the model's FIM markers, as the sampler built it", () => {
    const out = join(dir, 'fim');
    assert.equal(prefer('export', '--db', db, '--bundle', out).code, 0);
    // train.py's own fim_prompts over stand-ins for a datasets.Dataset and a tokenizer (neither is installed here)
    const script = `
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("train", sys.argv[1])
train = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train)
class Rows:
    def __init__(self, rows): self.rows = rows
    column_names = property(lambda self: list(self.rows[0]))
    def __getitem__(self, column): return [r[column] for r in self.rows]
    def map(self, f): return Rows([{**r, **f(r)} for r in self.rows])
class Tokenizer:
    def __init__(self, vocab): self.vocab = vocab
    def get_vocab(self): return {t: i for i, t in enumerate(self.vocab)}
rows = Rows([{"prompt": "f(", "suffix": ")", "chosen": "x"}, {"prompt": "g(", "suffix": "", "chosen": "y"}])
for vocab in (["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"], ["<fim-prefix>", "<fim-suffix>", "<fim-middle>"], ["a"]):
    print(json.dumps(train.fim_prompts(rows, Tokenizer(vocab))["prompt"]))
`;
    const r = spawnSync('python3', ['-c', script, join(out, 'train.py')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      r.stdout.trim().split('\n').filter((l) => l.startsWith('[')).map((l) => JSON.parse(l)),
      [
        ['<|fim_prefix|>f(<|fim_suffix|>)<|fim_middle|>', 'g('],
        ['<fim-prefix>f(<fim-suffix>)<fim-middle>', 'g('],
        ['f(', 'g('],
      ],
    );
    assert.match(r.stdout, /no FIM markers Prefer knows/);
  });

  it('refuses an existing folder, a bad round option and round options without --bundle, writing nothing', () => {
    const existing = join(dir, 'existing');
    mkdirSync(existing);
    const taken = prefer('export', '--db', db, '--bundle', existing);
    assert.equal(taken.code, 2);
    assert.match(taken.stderr, /existing: already exists/);
    assert.deepEqual(readdirSync(existing), []);
    const badLoss = prefer('export', '--db', db, '--bundle', join(dir, 'bad'), '--loss', 'nope');
    assert.equal(badLoss.code, 2);
    assert.match(badLoss.stderr, /--loss: unknown loss 'nope'/);
    const mixed = prefer('export', '--db', db, '--bundle', join(dir, 'mixed'), '--loss', 'kto,sigmoid');
    assert.equal(mixed.code, 2);
    const stray = prefer(
      'export',
      '--db',
      db,
      '--format',
      'trl',
      '--out',
      join(dir, 'x.jsonl'),
      '--beta',
      '0.2',
    );
    assert.equal(stray.code, 2);
    assert.match(stray.stderr, /--beta is a round option/);
    assert.ok(
      !existsSync(join(dir, 'bad')) && !existsSync(join(dir, 'mixed')) && !existsSync(join(dir, 'x.jsonl')),
    );
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('partial')),
      [],
    );
  });

  it("prefer export --format trl-kto writes TRL's unpaired lines, paths left out with --private", () => {
    const out = join(dir, 'kto.jsonl');
    const r = preferJson(
      'export',
      '--db',
      db,
      '--format',
      'trl-kto',
      '--out',
      out,
      '--private',
      '--source',
      'continue',
    );
    assert.equal(r.code, 0);
    const lines = jsonl(out);
    assert.equal(lines.length, 3, 'three judged completions; the continue pair is made of two of them');
    assert.equal(r.value.pairs, 1);
    assert.ok(
      lines.every(
        (l) => Object.keys(l).slice(0, 3).join() === 'prompt,completion,label' && !('file_path' in l),
      ),
    );
    const open = join(dir, 'kto-open.jsonl');
    preferJson('export', '--db', db, '--format', 'trl-kto', '--out', open, '--source', 'continue');
    assert.equal(jsonl(open)[0]!.file_path, 'file:///home/dev/demo/src/sum.ts');
  });
});
