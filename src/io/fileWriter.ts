import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

const FLUSH_CHARS = 1 << 20;

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
    this.fd = openSync(this.temporary, 'w');
  }

  writeLine(line: string): void {
    this.buffered.push(line, '\n');
    this.bufferedChars += line.length + 1;
    if (this.bufferedChars >= FLUSH_CHARS) this.flush();
  }

  private flush(): void {
    if (this.fd === undefined) throw new Error(`${this.target}: writer is closed`);
    writeSync(this.fd, this.buffered.join(''));
    this.buffered = [];
    this.bufferedChars = 0;
  }

  commit(): void {
    this.flush();
    fsyncSync(this.fd!);
    closeSync(this.fd!);
    this.fd = undefined;
    renameSync(this.temporary, this.target);
  }

  /** Removes the temporary file; the target is left as it was. */
  abort(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    rmSync(this.temporary, { force: true });
  }
}
