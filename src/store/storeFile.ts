import {
  accessSync,
  closeSync,
  constants,
  copyFileSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { InputError, firstLine } from '../inputError.ts';
import { bundledPackageDir } from '../installedPackage.ts';
import { migrations } from './migrations.ts';

/**
 * A better-sqlite3 connection: the one place the store constructs one. Inside the bundles the library's own search
 * for its addon (beside its lib/ folder, which is not there) would fail, so it is handed the installed addon.
 */
export function openDatabase(file: string | Buffer, options: Database.Options = {}): Database.Database {
  const packageDir = bundledPackageDir('better-sqlite3');
  if (packageDir === undefined) return new Database(file, options);
  const nativeBinding = join(packageDir, 'prebuilds', `${process.platform}-${process.arch}.node`);
  return new Database(file, { ...options, nativeBinding });
}

/** How long a connection waits for another process's write lock before failing with SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 10_000;

/**
 * PRAGMA journal_mode = WAL, retried while another process holds the file. Switching a new file to WAL takes
 * an exclusive lock, and SQLite answers SQLITE_BUSY at once there instead of calling the busy handler: without
 * the retry, one of two processes opening a new store together (two windows, the editor and `prefer`) failed
 * with "database is locked". Once one has switched, the file stays in WAL and the other's switch is a no-op.
 */
export function switchToWal(db: Database.Database): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw e;
      Atomics.wait(pause, 0, 0, 5);
    }
  }
}

/** `PRAGMA application_id` of a Prefer store ('PREF'), set by migration 5. */
export const PREFER_APPLICATION_ID = 0x50524546;

/** Tables every Prefer store has had since version 1: how a store from before the application id is known. */
const PREFER_TABLES = ['prompt', 'candidate', 'comparison', 'pair'];

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
/** The 100-byte file header and the 8-byte b-tree header of page 1 (the schema table) after it. */
const HEADER_BYTES = 108;

/** What a file holds, as far as opening it as a store goes. */
export type StoreFileKind = 'new' | 'store';

/** One line naming the file, for any error out of opening or using it; SQLite's own messages name none. */
export function storeError(file: string, e: unknown): Error {
  const code = (e as { code?: unknown } | undefined)?.code;
  // Only SQLite's and the file system's errors (they carry a code): Prefer's own already say what they mean.
  if (!(e instanceof Error) || e instanceof InputError || typeof code !== 'string') return e as Error;
  const first = firstLine(e);
  const message = first.includes(file) ? first : `${file}: ${first}`;
  // A damaged, foreign, unreadable or read-only file is the user's to fix, not a failure of Prefer.
  const theirs =
    /^SQLITE_(CORRUPT|NOTADB|READONLY|CANTOPEN|PERM|AUTH)/.test(code) ||
    /^E(ACCES|PERM|ISDIR|NOTDIR|NOENT|ROFS|LOOP|NAMETOOLONG)$/.test(code);
  const error = theirs ? new InputError(message) : new Error(message);
  Object.assign(error, { code });
  return error;
}

const sizeOf = (file: string): number | undefined => {
  try {
    return statSync(file).size;
  } catch {
    return undefined;
  }
};

function readHeader(file: string): Buffer {
  const fd = openSync(file, 'r');
  try {
    const header = Buffer.alloc(HEADER_BYTES);
    return header.subarray(0, readSync(fd, header, 0, HEADER_BYTES, 0));
  } finally {
    closeSync(fd);
  }
}

interface Identity {
  applicationId: number;
  userVersion: number;
  /** Whether the schema holds any table, index, view or trigger. */
  empty: boolean;
  /** Only read when the header cannot answer. */
  tables?: string[];
}

function refuseForeign(file: string): never {
  throw new InputError(
    `${file}: is a SQLite database of another application, not a Prefer store; refusing to change it`,
  );
}

/** Decides from what the file says about itself; throws unless it is a new or a Prefer store. */
function classify(file: string, id: Identity): StoreFileKind {
  const known =
    id.applicationId === PREFER_APPLICATION_ID ||
    (id.applicationId === 0 &&
      id.userVersion > 0 &&
      id.tables !== undefined &&
      PREFER_TABLES.every((t) => id.tables!.includes(t)));
  if (known) {
    if (id.userVersion > migrations.length) {
      throw new InputError(
        `${file}: database schema version ${id.userVersion} is newer than this version of Prefer understands (${migrations.length}); update Prefer`,
      );
    }
    return 'store';
  }
  // An empty schema is what a crash (or another process) left between creating a store and its first migration.
  if (id.applicationId === 0 && id.userVersion === 0 && id.empty) return 'new';
  return refuseForeign(file);
}

/**
 * What `file` holds, read without changing a byte of it: nothing yet ('new': missing, 0 bytes, or a SQLite
 * file with an empty schema), or a Prefer store ('store'). Anything else is refused with an InputError naming
 * the file: a folder, a file that is not SQLite, another application's database, a store of a newer Prefer.
 */
export function inspectStoreFile(file: string): StoreFileKind {
  let size: number;
  try {
    const stat = statSync(file);
    if (stat.isDirectory()) throw new InputError(`${file}: is a folder, not a database file`);
    if (!stat.isFile()) throw new InputError(`${file}: is not a regular file`);
    size = stat.size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'new';
    throw storeError(file, e);
  }
  // The file's header may be older than its write-ahead log: then only SQLite can tell what it holds.
  const logged = (sizeOf(`${file}-wal`) ?? 0) > 0;
  if (size === 0 && !logged) return 'new';
  let header: Buffer;
  try {
    header = readHeader(file);
  } catch (e) {
    throw storeError(file, e);
  }
  if (size > 0 && (header.length < HEADER_BYTES || !header.subarray(0, 16).equals(SQLITE_MAGIC)))
    throw new InputError(`${file}: is not a SQLite database (nor a Prefer store); refusing to change it`);
  if (!logged) {
    const applicationId = header.readUInt32BE(68);
    const userVersion = header.readUInt32BE(60);
    const empty = header.readUInt16BE(103) === 0;
    if (applicationId === PREFER_APPLICATION_ID || applicationId !== 0 || userVersion === 0)
      return classify(file, { applicationId, userVersion, empty });
  }
  return classify(file, readIdentity(file));
}

/** Reads the identity through SQLite (a store from before the application id, or one with a log). */
function readIdentity(file: string): Identity {
  const reader = openForReading(file);
  try {
    const tables = reader.db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
      .pluck()
      .all() as string[];
    return {
      applicationId: reader.db.pragma('application_id', { simple: true }) as number,
      userVersion: reader.db.pragma('user_version', { simple: true }) as number,
      empty: (reader.db.prepare('SELECT count(*) FROM sqlite_master').pluck().get() as number) === 0,
      tables,
    };
  } catch (e) {
    throw storeError(file, e);
  } finally {
    reader.dispose();
  }
}

export interface Reader {
  db: Database.Database;
  /** Closes the connection and removes any copy made for it. */
  dispose(): void;
}

const writable = (path: string) => {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
};

/**
 * A connection that reads `file` and cannot change it. Where the file and its folder are writable, a normal
 * connection with writes switched off (SQLite then tidies its -wal and -shm files away on close, as for any
 * user); else a read-only one where it needs no new file beside the database; else a read-only connection to
 * a temporary copy (a WAL database in a read-only folder has no -shm file to share).
 */
export function openForReading(file: string): Reader {
  const attempt = (open: () => Database.Database): Reader | undefined => {
    let db: Database.Database | undefined;
    try {
      db = open();
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.pragma('query_only = ON');
      db.pragma('schema_version'); // reads the header: fails here, not later, when the file cannot be read
      const opened = db;
      return { db: opened, dispose: () => opened.close() };
    } catch (e) {
      db?.close();
      if (/^SQLITE_(READONLY|CANTOPEN|PERM)/.test(String((e as { code?: unknown }).code))) return undefined;
      throw storeError(file, e);
    }
  };
  if (writable(file) && writable(dirname(file))) {
    const reader = attempt(() => openDatabase(file, { fileMustExist: true }));
    if (reader) return reader;
  }
  const walMode = readHeader(file)[18] === 2;
  if (!walMode || sizeOf(`${file}-shm`) !== undefined) {
    const reader = attempt(() => openDatabase(file, { readonly: true, fileMustExist: true }));
    if (reader) return reader;
  }
  return readCopy(file);
}

function readCopy(file: string): Reader {
  const folder = mkdtempSync(join(tmpdir(), 'prefer-read-'));
  const remove = () => rmSync(folder, { recursive: true, force: true });
  try {
    const copy = join(folder, basename(file));
    copyFileSync(file, copy);
    if (sizeOf(`${file}-wal`) !== undefined) copyFileSync(`${file}-wal`, `${copy}-wal`);
    const db = openDatabase(copy, { readonly: true, fileMustExist: true });
    db.pragma('query_only = ON');
    db.pragma('schema_version');
    return {
      db,
      dispose: () => {
        db.close();
        remove();
      },
    };
  } catch (e) {
    remove();
    throw storeError(file, e);
  }
}
