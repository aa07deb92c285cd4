/**
 * A problem with what the user gave — a file, a field inside it, a flag — as opposed to a failure of Prefer
 * itself. The message is one line that names the file (with its line or field) or the flag; the command
 * line exits with code 2 on it, and nothing already on disk has been changed when it is thrown.
 */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    // worker threads tell input errors from failures by name (instanceof does not cross the boundary)
    this.name = 'InputError';
  }
}

/** Whether `e` is an input error, also one re-created from a worker thread's message by its name. */
export function isInputError(e: unknown): e is Error {
  return e instanceof InputError || (e instanceof Error && (e.name === 'InputError' || e.name === 'RoundInputError'));
}

/** The first line of an error's message: what a one-line report shows (library messages can run on for lines). */
export function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}
