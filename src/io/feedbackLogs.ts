import { readdirSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { FeedbackFormat } from './feedbackFormats.ts';

/** One tool's completion logs on this machine, oldest first. */
export interface FeedbackLogs {
  format: FeedbackFormat;
  /** The folder they were looked for in. */
  folder: string;
  files: { path: string; bytes: number }[];
}

const files = (folder: string, keep: (name: string) => boolean) => {
  try {
    return readdirSync(folder, { withFileTypes: true })
      .filter((e) => e.isFile() && keep(e.name))
      .map((e) => join(folder, e.name));
  } catch {
    return [];
  }
};

const folders = (folder: string) => {
  try {
    return readdirSync(folder, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => join(folder, e.name));
  } catch {
    return [];
  }
};

const sized = (paths: string[]) => paths.sort().map((path) => ({ path, bytes: statSync(path).size }));

/**
 * Where Continue and Tabby keep their completion logs: Continue in `dev_data/<schema>/autocomplete.jsonl` of
 * its global folder (CONTINUE_GLOBAL_DIR when absolute, as Continue reads it, else ~/.continue); Tabby in
 * `events/*.json` of TABBY_ROOT (else ~/.tabby). Only the tools that have some are listed.
 */
export function findFeedbackLogs(env: NodeJS.ProcessEnv, home: string): FeedbackLogs[] {
  const continueDir =
    env.CONTINUE_GLOBAL_DIR && isAbsolute(env.CONTINUE_GLOBAL_DIR)
      ? env.CONTINUE_GLOBAL_DIR
      : join(home, '.continue');
  const tabbyDir = env.TABBY_ROOT ? env.TABBY_ROOT : join(home, '.tabby');
  const devData = join(continueDir, 'dev_data');
  const events = join(tabbyDir, 'events');
  const found: FeedbackLogs[] = [
    {
      format: 'continue',
      folder: devData,
      files: sized(folders(devData).flatMap((d) => files(d, (n) => n === 'autocomplete.jsonl'))),
    },
    { format: 'tabby', folder: events, files: sized(files(events, (n) => n.endsWith('.json'))) },
  ];
  return found.filter((logs) => logs.files.length > 0);
}
