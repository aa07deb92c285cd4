/**
 * Builds the pretraining corpus of the default model from the JavaScript/TypeScript sources of the packages
 * this project installs (node_modules and code-server's node_modules): permissive licenses only, hand-written
 * code only (codeFilter.ts), deduplicated by content hash, split into train / held-out BY PACKAGE NAME (so
 * no package's code is on both sides). Deterministic: sorted walk, split by a hash of the package name.
 *
 *   node scripts/corpus/build-corpus.ts [--out .cache/corpus] [--heldout-percent 5] [ROOT…]
 *
 * Writes train.jsonl and heldout.jsonl ({package, file, text} per line), manifest.jsonl (package, version,
 * license, file, sha256, bytes, split for every file kept) and summary.json.
 */
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { dropReason, isCodeFileName } from './codeFilter.ts';
import { isPermissive, licenseOf } from './licenses.ts';

export interface PackageInfo {
  name: string;
  version: string;
  license: string | null;
  dir: string;
}

export interface ManifestEntry {
  package: string;
  version: string;
  license: string;
  file: string;
  sha256: string;
  bytes: number;
  split: Split;
}

export type Split = 'train' | 'heldout';

const SKIPPED_DIRS = new Set(['.git', '.bin', '.cache', '.github']);

function readPackageJson(dir: string): Record<string, unknown> | null {
  try {
    const json = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as unknown;
    return json && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Every code file under `root` with the package that owns it (the nearest package.json with a name and version). */
export function* packageFiles(root: string): Generator<{ pkg: PackageInfo; path: string }> {
  function* walk(dir: string, owner: PackageInfo | null): Generator<{ pkg: PackageInfo; path: string }> {
    let pkg = owner;
    const json = readPackageJson(dir);
    if (json && typeof json['name'] === 'string' && typeof json['version'] === 'string') {
      pkg = { name: json['name'], version: json['version'], license: licenseOf(json), dir };
    }
    let entries: string[];
    try {
      entries = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of entries) {
      const path = join(dir, name);
      const stat = lstatSync(path);
      if (stat.isSymbolicLink()) continue;
      if (stat.isDirectory()) {
        if (!SKIPPED_DIRS.has(name)) yield* walk(path, pkg);
      } else if (stat.isFile() && pkg && isCodeFileName(name)) {
        yield { pkg, path };
      }
    }
  }
  yield* walk(root, null);
}

/** Held-out when the package name's hash falls in the first `percent` of 100 buckets. */
export function splitOf(packageName: string, percent: number): Split {
  const bucket = createHash('sha256').update(`prefer-corpus\0${packageName}`).digest().readUInt32BE(0) % 100;
  return bucket < percent ? 'heldout' : 'train';
}

class JsonlWriter {
  private readonly fd: number;
  readonly tmp: string;
  readonly path: string;

  constructor(path: string) {
    this.path = path;
    this.tmp = `${path}.tmp-${process.pid}`;
    this.fd = openSync(this.tmp, 'w');
  }

  write(value: unknown): void {
    writeSync(this.fd, `${JSON.stringify(value)}\n`);
  }

  /** The file appears complete or not at all. */
  commit(): void {
    closeSync(this.fd);
    renameSync(this.tmp, this.path);
  }
}

export interface CorpusSummary {
  roots: string[];
  heldoutPercent: number;
  files: Record<Split, number>;
  bytes: Record<Split, number>;
  packages: Record<Split, number>;
  dropped: Record<string, number>;
  refusedLicenses: Record<string, number>;
  licenses: Record<string, number>;
  largestPackages: { package: string; files: number; bytes: number; split: Split }[];
}

export function buildCorpus(roots: readonly string[], outDir: string, heldoutPercent: number, repoRoot: string): CorpusSummary {
  mkdirSync(outDir, { recursive: true });
  const writers = { train: new JsonlWriter(join(outDir, 'train.jsonl')), heldout: new JsonlWriter(join(outDir, 'heldout.jsonl')) };
  const manifest = new JsonlWriter(join(outDir, 'manifest.jsonl'));
  const seen = new Set<string>();
  const summary: CorpusSummary = {
    roots: roots.map((r) => relative(repoRoot, r) || '.'),
    heldoutPercent,
    files: { train: 0, heldout: 0 },
    bytes: { train: 0, heldout: 0 },
    packages: { train: 0, heldout: 0 },
    dropped: {},
    refusedLicenses: {},
    licenses: {},
    largestPackages: [],
  };
  const perPackage = new Map<string, { files: number; bytes: number; split: Split }>();
  const drop = (why: string) => (summary.dropped[why] = (summary.dropped[why] ?? 0) + 1);
  for (const root of roots) {
    for (const { pkg, path } of packageFiles(root)) {
      if (!isPermissive(pkg.license)) {
        const key = pkg.license ?? '(none)';
        summary.refusedLicenses[key] = (summary.refusedLicenses[key] ?? 0) + 1;
        drop('license');
        continue;
      }
      const raw = readFileSync(path);
      const text = raw.toString('utf8');
      const why = dropReason(path, raw.byteLength, text);
      if (why) {
        drop(why);
        continue;
      }
      const sha256 = createHash('sha256').update(raw).digest('hex');
      if (seen.has(sha256)) {
        drop('duplicate');
        continue;
      }
      seen.add(sha256);
      const split = splitOf(pkg.name, heldoutPercent);
      const file = relative(repoRoot, path);
      const entry: ManifestEntry = { package: pkg.name, version: pkg.version, license: pkg.license!, file, sha256, bytes: raw.byteLength, split };
      manifest.write(entry);
      writers[split].write({ package: pkg.name, file, text });
      summary.files[split]++;
      summary.bytes[split] += raw.byteLength;
      summary.licenses[pkg.license!] = (summary.licenses[pkg.license!] ?? 0) + 1;
      const stats = perPackage.get(pkg.name) ?? { files: 0, bytes: 0, split };
      stats.files++;
      stats.bytes += raw.byteLength;
      perPackage.set(pkg.name, stats);
    }
  }
  for (const { split } of perPackage.values()) summary.packages[split]++;
  summary.largestPackages = [...perPackage.entries()]
    .sort((a, b) => b[1].bytes - a[1].bytes || (a[0] < b[0] ? -1 : 1))
    .slice(0, 25)
    .map(([name, s]) => ({ package: name, ...s }));
  writers.train.commit();
  writers.heldout.commit();
  manifest.commit();
  writeJsonAtomic(join(outDir, 'summary.json'), summary);
  return summary;
}

function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  writeSync(fd, `${JSON.stringify(value, null, 2)}\n`);
  closeSync(fd);
  renameSync(tmp, path);
}

function main(): void {
  const repoRoot = resolve(import.meta.dirname, '../..');
  const { values, positionals } = parseArgs({
    options: { out: { type: 'string', default: join(repoRoot, '.cache/corpus') }, 'heldout-percent': { type: 'string', default: '5' } },
    allowPositionals: true,
  });
  const roots = positionals.length > 0 ? positionals.map((p) => resolve(p)) : [join(repoRoot, 'node_modules'), join(repoRoot, 'tools/code-server/node_modules')];
  const percent = Number(values['heldout-percent']);
  if (!Number.isInteger(percent) || percent < 1 || percent > 50) throw new Error(`--heldout-percent must be an integer in 1..50, got ${values['heldout-percent']}`);
  const started = performance.now();
  const summary = buildCorpus(roots, resolve(values.out!), percent, repoRoot);
  const mb = (n: number) => (n / 1e6).toFixed(1);
  console.log(
    `corpus: train ${summary.files.train} files ${mb(summary.bytes.train)} MB (${summary.packages.train} packages), ` +
      `held-out ${summary.files.heldout} files ${mb(summary.bytes.heldout)} MB (${summary.packages.heldout} packages), ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s → ${values.out}`,
  );
}

if (import.meta.main) main();
