import { hash } from 'node:crypto';

/** Where a prompt came from and the text around the cursor: the identity of a prompt. */
export interface PromptInput {
  workspace?: string | undefined;
  filePath?: string | undefined;
  language?: string | undefined;
  prefix: string;
  suffix?: string | undefined;
}

const sha256 = (s: string) => hash('sha256', s);

export function promptHash(p: PromptInput): string {
  return sha256(
    JSON.stringify([p.workspace ?? null, p.filePath ?? null, p.language ?? null, p.prefix, p.suffix ?? '']),
  );
}

/** Content keys are the first 128 bits of SHA-256, as blobs: half the bytes of hex in rows and indexes. */
const KEY_BYTES = 16;

/** A completion text's key, for finding a prompt's candidate with the same text. */
export function textHash(text: string): Buffer {
  return hash('sha256', text, 'buffer').subarray(0, KEY_BYTES);
}

/** A pair's content key without its source: the same prompt, chosen text and rejected text. */
export function pairTextsHash(promptHash: string, chosen: string, rejected: string): Buffer {
  return pairKey(promptHash, textHash(chosen), textHash(rejected));
}

/** pairTextsHash from the texts' hashes, for callers that hashed the texts already. */
export function pairKey(promptHash: string, chosenTextHash: Buffer, rejectedTextHash: Buffer): Buffer {
  const key = Buffer.concat([Buffer.from(promptHash, 'hex'), chosenTextHash, rejectedTextHash]);
  return hash('sha256', key, 'buffer').subarray(0, KEY_BYTES);
}
