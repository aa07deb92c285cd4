import { closeSync, openSync, readSync } from 'node:fs';
import { InputError } from '../inputError.ts';

/** The file's fs errors as one line naming it (a folder opens on Linux and fails on read with no path). */
function inputError(file: string, e: unknown): InputError {
  const code = (e as NodeJS.ErrnoException).code;
  return new InputError(
    code === 'EISDIR'
      ? `${file}: is a folder, not a file`
      : `${file}: cannot read it (${code ?? (e as Error).message})`,
  );
}

function openInput(file: string): number {
  try {
    return openSync(file, 'r');
  } catch (e) {
    throw inputError(file, e);
  }
}

function readInput(file: string, fd: number, chunk: Buffer): number {
  try {
    return readSync(fd, chunk, 0, chunk.length, null);
  } catch (e) {
    throw inputError(file, e);
  }
}

/** One line of a JSONL file: its text, or why it cannot be read. Lines are numbered from 1. */
export type JsonlLine = { line: number; text: string } | { line: number; error: string };

export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const CHUNK_BYTES = 1 << 20;

/**
 * Reads a file line by line holding at most one line and one chunk in memory. A line longer than
 * `maxLineBytes` or not valid UTF-8 becomes an error for that line only. Byte-order marks and CRLF line
 * ends are accepted; blank lines are skipped.
 */
export function* readJsonlLines(file: string, maxLineBytes = DEFAULT_MAX_LINE_BYTES): Generator<JsonlLine> {
  // A fresh decode() call drops a leading byte-order mark, so each line may carry one.
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const fd = openInput(file);
  try {
    const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    // Start of the current line when it began in an earlier chunk (copied: the chunk buffer is reused).
    let carried: Buffer[] = [];
    let carriedBytes = 0;
    let oversized = false;
    let lineNumber = 1;

    const carry = (piece: Buffer) => {
      if (oversized) return;
      if (carriedBytes + piece.length > maxLineBytes) {
        oversized = true;
        carried = [];
        carriedBytes = 0;
      } else {
        carried.push(Buffer.from(piece));
        carriedBytes += piece.length;
      }
    };

    const finish = (tail: Buffer): JsonlLine | undefined => {
      const line = lineNumber++;
      if (!oversized && carriedBytes + tail.length > maxLineBytes) oversized = true;
      if (oversized) {
        oversized = false;
        carried = [];
        carriedBytes = 0;
        return { line, error: `line is longer than ${maxLineBytes} bytes` };
      }
      let bytes = tail;
      if (carriedBytes > 0) {
        bytes = Buffer.concat([...carried, tail], carriedBytes + tail.length);
        carried = [];
        carriedBytes = 0;
      }
      const end =
        bytes.length > 0 && bytes[bytes.length - 1] === CARRIAGE_RETURN ? bytes.length - 1 : bytes.length;
      let text: string;
      try {
        text = utf8.decode(bytes.subarray(0, end));
      } catch {
        return { line, error: 'line is not valid UTF-8' };
      }
      return text.trim() === '' ? undefined : { line, text };
    };

    let sawPartial = false;
    for (;;) {
      const read = readInput(file, fd, chunk);
      if (read === 0) break;
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(NEWLINE, start);
        if (nl === -1 || nl >= read) break;
        const result = finish(chunk.subarray(start, nl));
        if (result) yield result;
        start = nl + 1;
      }
      sawPartial = start < read;
      if (sawPartial) carry(chunk.subarray(start, read));
    }
    if (sawPartial || carriedBytes > 0 || oversized) {
      const result = finish(Buffer.alloc(0));
      if (result) yield result;
    }
  } finally {
    closeSync(fd);
  }
}
