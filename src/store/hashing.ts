import { createHash } from 'node:crypto';

/** Where a prompt came from and the text around the cursor: the identity of a prompt. */
export interface PromptInput {
  workspace?: string | undefined;
  filePath?: string | undefined;
  language?: string | undefined;
  prefix: string;
  suffix?: string | undefined;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export function promptHash(p: PromptInput): string {
  return sha256(
    JSON.stringify([p.workspace ?? null, p.filePath ?? null, p.language ?? null, p.prefix, p.suffix ?? '']),
  );
}

export function textHash(text: string): string {
  return sha256(text);
}

/** A pair's content key without its source: the same prompt, chosen text and rejected text. */
export function pairTextsHash(promptHash: string, chosen: string, rejected: string): string {
  return sha256(JSON.stringify([promptHash, chosen, rejected]));
}
