import {
  closeSync,
  fsyncSync,
  openSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InputError } from '../inputError.ts';

const FLUSH_CHARS = 1 << 20;

/** An fs error as one line naming `file`: the user's to fix (no permission, no space) is an InputError. */
function fileError(file: string, action: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code;
  const message = `${file}: cannot ${action} (${code ?? (e as Error).message})`;
  return code !== undefined && /^E(ACCES|PERM|ISDIR|NOTDIR|NOENT|ROFS|LOOP|NAMETOOLONG|EXIST)$/.test(code)
    ? new InputError(message)
    : new Error(message);
}

const statOrUndefined = (path: string) => {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
};

/** Where `path` ends up on disk: links and `..` resolved, also for a file that does not exist yet. */
function realTarget(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return join(realpathSync(dirname(resolve(path))), basename(path));
  }
}

export interface OutputCheck {
  /** The database being read: neither it nor its -wal, -shm or -journal file may be the output. */
  database?: string | undefined;
  /** Replace an existing file. */
  force: boolean;
}

/**
 * Checks that `out` can be written without losing anything, and returns the path to write: the file a link
 * points to, so the link stays. Throws an InputError naming the path otherwise.
 */
export function checkOutputFile(out: string, check: OutputCheck): string {
  const folder = dirname(resolve(out));
  const folderStat = statOrUndefined(folder);
  if (!folderStat) throw new InputError(`${dirname(out)}: no such folder`);
  if (!folderStat.isDirectory()) throw new InputError(`${dirname(out)}: is not a folder`);
  const existing = statOrUndefined(out);
  if (existing?.isDirectory()) throw new InputError(`${out}: is a folder, not a file to write`);
  const target = realTarget(out);
  if (check.database !== undefined && check.database !== ':memory:' && statOrUndefined(check.database)) {
    const database = realTarget(check.database);
    const own = ['', '-wal', '-shm', '-journal'].map((suffix) => `${database}${suffix}`);
    const dbStat = statSync(database);
    if (own.includes(target) || (existing && existing.dev === dbStat.dev && existing.ino === dbStat.ino))
      throw new InputError(
        `${out}: is the database ${check.database} (or one of its files); choose another output file`,
      );
  }
  if (existing && !check.force) throw new InputError(`${out}: already exists (--force overwrites it)`);
  if (existing && !existing.isFile()) throw new InputError(`${out}: is not a regular file`);
  return target;
}

/**
 * Writes a file through a temporary sibling renamed into place on commit, so a reader (or a crash) never
 * sees half a file. Lines are buffered and written in large blocks.
 */
export class AtomicLineWriter {
  private readonly target: string;
  private readonly temporary: string;
  private fd: number | undefined;
  private buffered: string[] = [];
  private bufferedChars = 0;

  constructor(target: string) {
    this.target = target;
    this.temporary = `${target}.${process.pid}.partial`;
    try {
      // 'wx': never through a link or over a file someone else left under this name.
      this.fd = openSync(this.temporary, 'wx');
    } catch (e) {
      throw fileError(target, 'write it', e);
    }
  }

  writeLine(line: string): void {
    this.buffered.push(line, '\n');
    this.bufferedChars += line.length + 1;
    if (this.bufferedChars >= FLUSH_CHARS) this.flush();
  }

  private flush(): void {
    if (this.fd === undefined) throw new Error(`${this.target}: writer is closed`);
    try {
      writeSync(this.fd, this.buffered.join(''));
    } catch (e) {
      throw fileError(this.target, 'write it', e);
    }
    this.buffered = [];
    this.bufferedChars = 0;
  }

  commit(): void {
    this.flush();
    try {
      fsyncSync(this.fd!);
      closeSync(this.fd!);
      this.fd = undefined;
      renameSync(this.temporary, this.target);
    } catch (e) {
      throw fileError(this.target, 'write it', e);
    }
  }

  /** Removes the temporary file; the target is left as it was. */
  abort(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    rmSync(this.temporary, { force: true });
  }
}
