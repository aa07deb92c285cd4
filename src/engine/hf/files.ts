/**
 * Opening the files of a checkpoint: only regular files are read (a FIFO would block the open forever, a
 * folder cannot be read), and every failure is one InputError line naming the file.
 */
import { constants } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { InputError } from '../../inputError.ts';

export function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').trim();
}

/** The one-line error for a failed open or stat of `path`. */
export function fileError(path: string, error: unknown): InputError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new InputError(`${path}: file not found`);
  if (code === 'ELOOP') return new InputError(`${path}: symbolic link loop (ELOOP)`);
  return new InputError(`${path}: cannot read (${oneLine(error)})`);
}

/** `path` opened for reading, refused unless it is a regular file (after following links). */
export async function openRegularFile(path: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    // non-blocking: opening a FIFO for reading would otherwise wait for a writer that never comes
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw fileError(path, error);
  }
  const stats = await handle.stat();
  if (stats.isFile()) return handle;
  await handle.close();
  const kind = stats.isDirectory() ? 'a folder' : stats.isFIFO() ? 'a FIFO' : stats.isSocket() ? 'a socket' : 'a device';
  throw new InputError(`${path}: ${kind}, not a regular file`);
}

/** The whole of a regular file as text. */
export async function readRegularText(path: string): Promise<string> {
  const handle = await openRegularFile(path);
  try {
    return await handle.readFile('utf8');
  } catch (error) {
    throw fileError(path, error);
  } finally {
    await handle.close();
  }
}

/** Whether something is at `path`: false only when nothing is (a dangling link included); a link loop is an error. */
export async function isPresent(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw fileError(path, error);
  }
}
