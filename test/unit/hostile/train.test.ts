/**
 * Hostile input for `prefer train`: adapter and checkpoint folders that would overwrite the model, the
 * database or the user's files (also through links, `..` and trailing slashes), flags past what the model or
 * float32 can take, and a round that diverges. Nothing on disk may change, and nothing be left behind.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importPairs } from '../../../src/io/importPairs.ts';
import { openStore } from '../../../src/store/store.ts';
import { copyModel, hostileCases } from './harness.ts';

const lines = Array.from({ length: 8 }, (_, i) => ({ prompt: `let v${i} =`, chosen: ` ${i} + 1;`, rejected: ` ${i}+1` }));

function pairsFile(dir: string): string {
  const file = join(dir, 'pairs.jsonl');
  writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return file;
}

/** A store holding the pairs, closed (so everything is in the main file). */
async function store(dir: string, name = 'prefer.sqlite'): Promise<string> {
  const db = join(dir, name);
  const s = openStore(db);
  try {
    await importPairs(s, pairsFile(dir));
  } finally {
    s.close();
  }
  return db;
}

/** `prefer train` on the given pairs and a copy of the small model, small enough to run in a second or two. */
async function train(dir: string, out: string | ((model: string) => string), ...flags: string[]): Promise<string[]> {
  const model = await copyModel(dir);
  const target = typeof out === 'string' ? out : out(model);
  return ['train', '--pairs', pairsFile(dir), '--model', model, '--out', target, '--lora-r', '2', '--max-length', '32', '--json', ...flags];
}

/** A user's folder with a file in it. */
function userFolder(dir: string, name: string): string {
  const folder = join(dir, name);
  mkdirSync(folder);
  writeFileSync(join(folder, 'notes.txt'), 'mine');
  return folder;
}

hostileCases('train', [
  {
    name: '--out is the model folder',
    setup: (dir) => train(dir, (model) => model),
    error: /\/model: the adapter folder would be the model /,
  },
  {
    name: '--out is the model folder, with `..` and a trailing slash',
    setup: (dir) => train(dir, (model) => `${model}/../model/`),
    error: /model\/: the adapter folder would be the model /,
  },
  {
    name: '--out is a link to the model folder',
    setup: async (dir) => {
      const args = await train(dir, join(dir, 'model-link'));
      symlinkSync(join(dir, 'model'), join(dir, 'model-link'));
      return args;
    },
    error: /model-link: the adapter folder would be the model /,
  },
  {
    name: '--out lies inside the model folder',
    setup: (dir) => train(dir, (model) => join(model, 'adapter')),
    error: /model\/adapter: the adapter folder would lie inside the model folder/,
  },
  {
    name: '--out lies inside the model folder through a link to it',
    setup: async (dir) => {
      symlinkSync('model', join(dir, 'via'));
      return train(dir, join(dir, 'via', 'lora'));
    },
    error: /via\/lora: the adapter folder would lie inside the model folder/,
  },
  {
    name: '--out is the --db database',
    setup: async (dir) => {
      const db = await store(dir);
      const model = await copyModel(dir);
      return ['train', '--db', db, '--model', model, '--out', db, '--lora-r', '2', '--max-length', '32'];
    },
    error: /prefer\.sqlite: the adapter folder would be the database/,
  },
  {
    name: '--out is a link to the --db database',
    setup: async (dir) => {
      const db = await store(dir);
      symlinkSync(db, join(dir, 'db-link'));
      const model = await copyModel(dir);
      return ['train', '--db', db, '--model', model, '--out', join(dir, 'db-link'), '--lora-r', '2', '--max-length', '32'];
    },
    error: /db-link: the adapter folder would be the database/,
  },
  {
    name: 'OUT.checkpoint is the --db database',
    setup: async (dir) => {
      const db = await store(dir, 'adapter.checkpoint');
      const model = await copyModel(dir);
      return ['train', '--db', db, '--model', model, '--out', join(dir, 'adapter'), '--lora-r', '2', '--max-length', '32'];
    },
    error: /adapter\.checkpoint: the checkpoint folder would be the database/,
  },
  {
    name: '--out is an existing folder with files in it',
    setup: (dir) => train(dir, userFolder(dir, 'work')),
    error: /work: already exists; choose a new folder/,
  },
  {
    name: '--out is an existing empty folder',
    setup: (dir) => {
      mkdirSync(join(dir, 'empty'));
      return train(dir, join(dir, 'empty'));
    },
    error: /empty: already exists/,
  },
  {
    name: '--out is an existing file',
    setup: (dir) => {
      writeFileSync(join(dir, 'report.pdf'), 'mine');
      return train(dir, join(dir, 'report.pdf'));
    },
    error: /report\.pdf: already exists/,
  },
  {
    name: '--out is a link to a user folder',
    setup: (dir) => {
      symlinkSync(userFolder(dir, 'work'), join(dir, 'work-link'));
      return train(dir, join(dir, 'work-link'));
    },
    error: /work-link: already exists/,
  },
  {
    name: '--out is a dangling link',
    setup: (dir) => {
      symlinkSync(join(dir, 'gone'), join(dir, 'dangling'));
      return train(dir, join(dir, 'dangling'));
    },
    error: /dangling: already exists/,
  },
  {
    name: '--out lies inside a file',
    setup: (dir) => {
      writeFileSync(join(dir, 'file'), 'mine');
      return train(dir, join(dir, 'file', 'adapter'));
    },
    error: /file\/adapter: .*file is not a folder/,
  },
  {
    name: 'OUT.checkpoint is a user folder',
    setup: (dir) => {
      userFolder(dir, 'adapter.checkpoint');
      return train(dir, join(dir, 'adapter'));
    },
    error: /adapter\.checkpoint: holds notes\.txt, which is not part of a Prefer checkpoint/,
  },
  {
    name: 'OUT.checkpoint is a user folder that also holds a round.json',
    setup: (dir) => {
      const folder = userFolder(dir, 'adapter.checkpoint');
      writeFileSync(join(folder, 'round.json'), '{"mine": true}');
      return train(dir, join(dir, 'adapter'));
    },
    error: /adapter\.checkpoint: holds notes\.txt/,
  },
  {
    name: 'OUT.checkpoint is a file',
    setup: (dir) => {
      writeFileSync(join(dir, 'adapter.checkpoint'), 'mine');
      return train(dir, join(dir, 'adapter'));
    },
    error: /adapter\.checkpoint: is not a folder/,
  },
  {
    name: 'OUT.checkpoint is a link to a user folder',
    setup: (dir) => {
      symlinkSync(userFolder(dir, 'work'), join(dir, 'adapter.checkpoint'));
      return train(dir, join(dir, 'adapter'));
    },
    error: /adapter\.checkpoint: is a link/,
  },
  {
    name: '--resume with a user folder at --out and no checkpoint',
    setup: (dir) => train(dir, userFolder(dir, 'adapter'), '--resume'),
    error: /adapter: already exists/,
  },
  {
    name: '--lora-r past the smallest dimension of the adapted linears',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--lora-r', '100000'),
    error: /--lora-r 100000: .*at most 32/,
  },
  {
    name: '--lora-alpha past float32',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--lora-alpha', '1e308'),
    error: /--lora-alpha must be a positive number up to 3\.4e38/,
  },
  {
    name: '--lr past float32',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--lr', '1e300'),
    error: /--lr must be a non-negative number up to 3\.4e38/,
  },
  {
    name: '--lr that makes the round diverge',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--lr', '1e30'),
    // the user's flag to lower: an input error, exit 2; no adapter and no checkpoint are left
    error: /diverged at step 2: held-out loss NaN — lower --lr or --lora-alpha/,
  },
  {
    name: '--lr NaN',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--lr', 'NaN'),
    error: /--lr must be/,
  },
  {
    name: '--beta Infinity',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--beta', 'Infinity'),
    error: /--beta must be/,
  },
  {
    name: '--epochs 0',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--epochs', '0'),
    error: /--epochs must be an integer from 1 to 1000/,
  },
  {
    name: '--epochs past what the round can plan',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--epochs', '1000000000'),
    error: /--epochs must be an integer from 1 to 1000/,
  },
  {
    name: '--eval-split 2',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--eval-split', '2'),
    error: /--eval-split must be in \[0, 1\)/,
  },
  {
    name: '--lora-r 2.5',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--lora-r', '2.5'),
    error: /--lora-r must be a positive integer/,
  },
  {
    name: '--threads -1',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--threads=-1'),
    error: /--threads must be a non-negative integer/,
  },
  {
    name: '--target-modules naming no linear of the model',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--target-modules', 'q_proj,attn_out'),
    error: /target module attn_out matches no linear/,
  },
  {
    name: '--loss naming a loss the registry lacks, in a list',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--loss', 'sigmoid,orpo'),
    error: /^--loss: unknown loss 'orpo' \(expected sigmoid, robust, ipo, hinge, /,
  },
  {
    name: '--loss combining kto with a paired loss',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--loss', 'sigmoid,kto'),
    error: /^--loss: kto trains on unpaired examples and cannot be combined with sigmoid$/,
  },
  {
    name: '--loss listing a loss twice',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--loss', 'sft,sigmoid,sft'),
    error: /^--loss: sft is listed twice$/,
  },
  {
    name: '--loss of commas only',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--loss', ',,'),
    error: /^--loss: give at least one loss$/,
  },
  {
    name: '--loss-weights with fewer weights than losses',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--loss', 'sigmoid,sft', '--loss-weights', '1'),
    error: /^--loss-weights: 1 weight for 2 losses in --loss$/,
  },
  {
    name: '--loss-weights with a weight for no loss',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--loss-weights', '1,2'),
    error: /^--loss-weights: 2 weights for 1 loss in --loss$/,
  },
  {
    name: '--loss-weights with a negative weight',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--loss', 'sigmoid,sft', '--loss-weights', '1,-0.2'),
    error: /^--loss-weights: '-0\.2' is not a positive number up to 3\.4e38$/,
  },
  ...['0', 'NaN', '1e39', 'Infinity', '0x'].map((weight) => ({
    name: `--loss-weights ${weight}`,
    setup: (dir: string) => train(dir, join(dir, 'adapter'), '--loss-weights', weight),
    error: new RegExp(`^--loss-weights: '${weight}' is not a positive number`),
  })),
  {
    name: '--label-smoothing with losses that take none',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--loss', 'ipo,sft', '--label-smoothing', '0.1'),
    error: /^--label-smoothing: does not apply to ipo, sft \(only sigmoid, robust, sigmoid_norm, exo_pair\)$/,
  },
  {
    name: '--discopop-tau 0',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--loss', 'discopop', '--discopop-tau', '0'),
    error: /--discopop-tau must be a positive number up to 3\.4e38/,
  },
  {
    name: '--pairs is a folder',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--pairs', userFolder(dir, 'data')),
    error: /data: is a folder/,
  },
  {
    name: '--model is a folder without a model',
    setup: (dir) => train(dir, join(dir, 'adapter'), '--model', userFolder(dir, 'nothing')),
    error: /nothing\/config\.json/,
  },
]);
