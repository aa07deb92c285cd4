import {
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  realpathSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { SkipPrompt } from './labeler.ts';

/**
 * The temporary copy a command labeler runs in. What a stored prompt says (its file path may come from an
 * imported file) never reaches a command line verbatim and never decides where a write lands outside the copy:
 * the document's place in the copy is a sanitised relative path, the copy holds no link that leads out of it
 * (but the dependency folder, below), and every write is checked against the copy's real path first.
 */

/** Skip reasons, one per way a stored file path can be unusable; the run reports them as they are. */
export const SKIP = {
  climbs: "file path has a '..' segment",
  outside: 'file path is outside the workspace',
  noFile: 'file path names no file',
  unsafeName:
    'file path has characters a command line could misread, and the workspace has a file by that name',
  leavesCopy: 'the document would be written through a link that leads out of the temporary copy',
  notAFile: 'file path cannot be a file in the workspace copy',
} as const;

/** Folders never copied: version control, and dependencies, which are linked instead (large, read-only). */
const NOT_COPIED = new Set(['.git', 'node_modules']);
const DEPENDENCIES = 'node_modules';
const MAX_SEGMENT = 120;
/** Write errors that mean "this path cannot be a file here", not a failure of the machine. */
const NOT_A_FILE = new Set(['EISDIR', 'ENOTDIR', 'ENAMETOOLONG', 'ELOOP', 'EEXIST']);

/** `path` relative to `root` when it lies inside it ('' for the root itself), else undefined. */
export function within(root: string, path: string): string | undefined {
  const rel = relative(root, path);
  return rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel) ? undefined : rel;
}

/**
 * A path segment safe on any command line: characters outside A-Za-z0-9._- become _, and so does a leading -;
 * the extension stays, so compilers still recognise the language.
 */
export function safeSegment(segment: string): string {
  const safe = segment.replace(/[^A-Za-z0-9._-]/gu, '_').replace(/^-/, '_');
  if (safe.length <= MAX_SEGMENT) return safe;
  const extension = extname(safe).slice(0, 20);
  return safe.slice(0, MAX_SEGMENT - extension.length) + extension;
}

/** Where the document goes in the copy, and whether the copy holds the workspace or the document alone. */
export interface Placement {
  /** Relative to the copy; made of safe segments only. */
  relative: string;
  workspaceRoot?: string | undefined;
}

/** The stored path relative to the workspace root (lexical or real), if it lies inside. */
function insideWorkspace(root: string, filePath: string): string | undefined {
  for (const base of new Set([resolve(root), realpathSync(root)])) {
    const rel = within(base, isAbsolute(filePath) ? resolve(filePath) : resolve(base, filePath));
    if (rel !== undefined) return rel;
  }
  return undefined;
}

/** Places a prompt's document; throws SkipPrompt when its stored path cannot be used safely. */
export function placement(filePath: string | null, workspaceRoot: string | undefined): Placement {
  if (!filePath) return { relative: 'completion.txt' };
  const segments = filePath.split(/[\\/]/);
  if (segments.includes('..')) throw new SkipPrompt(SKIP.climbs);
  if (workspaceRoot === undefined) {
    const name = segments.at(-1)!;
    if (name === '' || name === '.') throw new SkipPrompt(SKIP.noFile);
    return { relative: safeSegment(name) };
  }
  const rel = insideWorkspace(workspaceRoot, filePath);
  if (rel === undefined) throw new SkipPrompt(SKIP.outside);
  if (rel === '') throw new SkipPrompt(SKIP.noFile);
  const safe = rel.split(sep).map(safeSegment).join(sep);
  // A renamed copy of a file the project has would not be what its tests read.
  if (safe !== rel && (existsSync(join(workspaceRoot, rel)) || existsSync(join(workspaceRoot, safe)))) {
    throw new SkipPrompt(SKIP.unsafeName);
  }
  return { relative: safe, workspaceRoot };
}

interface CopyState {
  realRoot: string;
  dir: string;
  /** Real paths of the folders being copied, to stop at a link back into one of them. */
  open: Set<string>;
}

function copyDirectory(source: string, target: string, state: CopyState): void {
  const real = realpathSync(source);
  if (state.open.has(real)) return;
  state.open.add(real);
  mkdirSync(target);
  for (const name of readdirSync(real)) copyEntry(join(real, name), join(target, name), state);
  state.open.delete(real);
}

/**
 * A link into the workspace is re-pointed at the same place in the copy; one leading out of it is replaced by a
 * copy of what it points to. A dangling link is left out: writing through it could create a file anywhere.
 */
function copyLink(source: string, target: string, state: CopyState): void {
  let real: string;
  try {
    real = realpathSync(source);
  } catch {
    return;
  }
  const inside = within(state.realRoot, real);
  const isDirectory = statSync(real).isDirectory();
  if (inside !== undefined) {
    symlinkSync(
      relative(dirname(target), join(state.dir, inside)) || '.',
      target,
      isDirectory ? 'dir' : 'file',
    );
  } else if (isDirectory) copyDirectory(real, target, state);
  else if (statSync(real).isFile()) copyFileSync(real, target);
}

function copyEntry(source: string, target: string, state: CopyState): void {
  const stat = lstatSync(source);
  if (stat.isSymbolicLink()) copyLink(source, target, state);
  else if (stat.isDirectory()) copyDirectory(source, target, state);
  else if (stat.isFile()) copyFileSync(source, target);
  // Sockets, FIFOs and devices are left out: reading a FIFO would block the copy.
}

/**
 * Copies the workspace into the empty folder `dir`. The dependency folder is linked, not copied (large, and
 * read-only to Prefer: writeInCopy refuses a document whose real folder lies outside the copy).
 */
export function copyWorkspace(root: string, dir: string): void {
  const realRoot = realpathSync(root);
  // The copy itself counts as open: a link to a folder holding it (the temporary folder) must not copy it into itself.
  const state: CopyState = { realRoot, dir, open: new Set([realRoot, realpathSync(dir)]) };
  try {
    for (const name of readdirSync(realRoot)) {
      if (!NOT_COPIED.has(name)) copyEntry(join(realRoot, name), join(dir, name), state);
    }
  } catch (e) {
    throw new Error(`copying the workspace ${root}: ${(e as Error).message}`);
  }
  const dependencies = join(realRoot, DEPENDENCIES);
  if (existsSync(dependencies) && statSync(dependencies).isDirectory()) {
    symlinkSync(realpathSync(dependencies), join(dir, DEPENDENCIES), 'dir');
  }
}

/** The nearest folder of `path` (or `path` itself) that exists, by lstat: a dangling link counts. */
function nearestExisting(path: string): string {
  let p = path;
  while (!lstatExists(p)) p = dirname(p);
  return p;
}

function lstatExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether `path` resolves to a place inside the real copy; a link that cannot be resolved does not. */
function resolvesInside(realDir: string, path: string): boolean {
  try {
    return within(realDir, realpathSync(path)) !== undefined;
  } catch {
    return false;
  }
}

/** Where a link in the copy leads; one that leads nowhere (into the uncopied .git, say) cannot take the document. */
function linkDestination(link: string): string {
  try {
    return realpathSync(link);
  } catch {
    throw new SkipPrompt(SKIP.leavesCopy);
  }
}

/** Opened without following a final link (where the platform can), after the checks below. */
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | (constants.O_NOFOLLOW ?? 0);

/**
 * Writes the document at `rel` in the copy `dir` and returns its path. Before any folder is made or byte
 * written, the real path of the folder that receives it must lie inside the copy; a document that is a link
 * (re-pointed into the copy by copyLink) is written where it leads, under the same check. Otherwise the
 * prompt is skipped.
 */
export function writeInCopy(dir: string, rel: string, text: string): string {
  const realDir = realpathSync(dir);
  const file = join(dir, rel);
  const folder = dirname(file);
  if (!resolvesInside(realDir, nearestExisting(folder))) throw new SkipPrompt(SKIP.leavesCopy);
  try {
    mkdirSync(folder, { recursive: true });
    const destination = lstatExists(file) && lstatSync(file).isSymbolicLink() ? linkDestination(file) : file;
    if (!resolvesInside(realDir, dirname(destination))) throw new SkipPrompt(SKIP.leavesCopy);
    const fd = openSync(destination, WRITE_FLAGS);
    try {
      writeFileSync(fd, text);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if (e instanceof SkipPrompt) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined && NOT_A_FILE.has(code)) throw new SkipPrompt(`${SKIP.notAFile} (${code})`);
    throw new Error(`writing ${rel} in the temporary copy ${dir}: ${(e as Error).message}`);
  }
  return file;
}
