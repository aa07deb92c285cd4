import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InputError } from '../inputError.ts';
import type { PairFilter, Store } from '../store/store.ts';
import { type BundleTraining, bundleReadme, FSDP_YAML, trainPy, ZERO3_YAML } from './bundleFiles.ts';
import { writeKtoLines } from './exportKto.ts';
import { AtomicLineWriter } from './fileWriter.ts';
import { encodePair } from './formats.ts';

export interface BundleResult {
  dir: string;
  pairs: number;
  unpaired: number;
  trainer: BundleTraining['trainer'];
}

/** The folder must be new, in a folder that exists: a bundle never replaces or merges into anything. */
function checkBundleDir(dir: string): void {
  if (existsSync(dir)) throw new InputError(`${dir}: already exists (a bundle is written into a new folder)`);
  const parent = dirname(resolve(dir));
  if (!existsSync(parent)) throw new InputError(`${dirname(dir)}: no such folder`);
  if (!statSync(parent).isDirectory()) throw new InputError(`${dirname(dir)}: is not a folder`);
}

const PRIVATE = { private: true };

/**
 * Writes a training bundle for TRL on a cluster into the new folder `dir`: pairs.jsonl (TRL preference),
 * unpaired.jsonl (TRL unpaired: judged completions and the pairs split), train.py, accelerate configs and a
 * README. Paths and workspace names are left out. It is written into a sibling and renamed, so `dir` appears
 * complete or not at all.
 */
export function writeBundle(
  store: Store,
  dir: string,
  filter: PairFilter,
  training: BundleTraining,
): BundleResult {
  checkBundleDir(dir);
  const temporary = join(dirname(resolve(dir)), `.${basename(dir)}.${process.pid}.partial`);
  rmSync(temporary, { recursive: true, force: true });
  mkdirSync(join(temporary, 'accelerate'), { recursive: true });
  try {
    const pairsWriter = new AtomicLineWriter(join(temporary, 'pairs.jsonl'));
    let pairs = 0;
    for (const pair of store.iteratePairs(filter)) {
      pairsWriter.writeLine(JSON.stringify(encodePair('trl', pair, PRIVATE)));
      pairs++;
    }
    pairsWriter.commit();
    const unpairedWriter = new AtomicLineWriter(join(temporary, 'unpaired.jsonl'));
    const unpaired = writeKtoLines(store, filter, PRIVATE, (line) => unpairedWriter.writeLine(line)).exported;
    unpairedWriter.commit();
    const data = training.trainer === 'kto' ? unpaired : pairs;
    if (data === 0)
      throw new InputError(
        `no ${training.trainer === 'kto' ? 'judged completions or pairs' : 'pairs'} match the filters: the bundle would train on nothing`,
      );
    writeFileSync(join(temporary, 'train.py'), trainPy(training));
    writeFileSync(join(temporary, 'accelerate', 'zero3.yaml'), ZERO3_YAML);
    writeFileSync(join(temporary, 'accelerate', 'fsdp.yaml'), FSDP_YAML);
    writeFileSync(join(temporary, 'README.md'), bundleReadme(training, { pairs, unpaired }));
    renameSync(temporary, dir);
    return { dir, pairs, unpaired, trainer: training.trainer };
  } catch (e) {
    rmSync(temporary, { recursive: true, force: true });
    throw e;
  }
}
