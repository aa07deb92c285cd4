/**
 * The checkpoint's tokenizer: @huggingface/tokenizers (pure JS) over tokenizer.json + tokenizer_config.json,
 * plus what the sampler needs on top: BOS/EOS ids, special tokens by text, FIM tokens, and streaming
 * decode that never splits a UTF-8 multi-byte character.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { join } from 'node:path';
import { InputError } from '../../inputError.ts';
import { isPresent } from './files.ts';
import type { GgufMetadata } from './gguf.ts';
import { ggufTokenizerFiles } from './ggufTokenizer.ts';
import { isRecord, oneLine, readJsonFile } from './json-file.ts';

export type FimStyle = 'qwen' | 'starcoder' | 'deepseek' | 'codellama';

/** The fill-in-the-middle tokens a model was trained with; the sampler builds the prompt from them. */
export interface FimTokens {
  style: FimStyle;
  prefix: FimToken;
  suffix: FimToken;
  middle: FimToken;
  /** End-of-middle token where the family has a dedicated one (CodeLlama <EOT>). */
  end: FimToken | null;
}

export interface FimToken {
  id: number;
  text: string;
}

/** Spellings per style; CodeLlama's SentencePiece vocabulary stores them with a leading '▁'. */
export const FIM_SPELLINGS: { style: FimStyle; prefix: string[]; suffix: string[]; middle: string[]; end: string[] }[] = [
  { style: 'qwen', prefix: ['<|fim_prefix|>'], suffix: ['<|fim_suffix|>'], middle: ['<|fim_middle|>'], end: [] },
  { style: 'starcoder', prefix: ['<fim_prefix>', '<fim-prefix>'], suffix: ['<fim_suffix>', '<fim-suffix>'], middle: ['<fim_middle>', '<fim-middle>'], end: [] },
  { style: 'deepseek', prefix: ['<｜fim▁begin｜>'], suffix: ['<｜fim▁hole｜>'], middle: ['<｜fim▁end｜>'], end: [] },
  { style: 'codellama', prefix: ['▁<PRE>', '<PRE>'], suffix: ['▁<SUF>', '<SUF>'], middle: ['▁<MID>', '<MID>'], end: ['▁<EOT>', '<EOT>'] },
];

export interface EncodeOptions {
  /** Apply the tokenizer's post-processor (e.g. prepend BOS). Default false: prompts are assembled by the sampler. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean;
}

export class CheckpointTokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: number[];
  readonly padTokenId: number | null;
  readonly fim: FimTokens | null;
  private readonly tokenizer: Tokenizer;
  private readonly specialIds: Set<number>;
  private readonly merges: [string, string][] | null;

  constructor(tokenizerJson: unknown, tokenizerConfig: unknown, path = 'tokenizer.json') {
    if (!isRecord(tokenizerJson)) throw new InputError(`${path}: tokenizer is not a JSON object`);
    const config = isRecord(tokenizerConfig) ? tokenizerConfig : {};
    try {
      this.tokenizer = new Tokenizer(tokenizerJson, config);
    } catch (error) {
      throw new InputError(`${path}: unsupported tokenizer (${oneLine(error)})`);
    }
    const vocab = this.tokenizer.get_vocab(true);
    let maxId = -1;
    for (const id of vocab.values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    this.specialIds = new Set([...this.tokenizer.get_added_tokens_decoder()].filter(([, t]) => t.special).map(([id]) => id));
    this.bosTokenId = this.configTokenId(config['bos_token']);
    const eos = this.configTokenId(config['eos_token']);
    this.eosTokenIds = eos === null ? [] : [eos];
    this.padTokenId = this.configTokenId(config['pad_token']);
    this.fim = this.findFimTokens();
    this.merges = bpeMergesOf(tokenizerJson);
  }

  /** tokenizer.json is required; tokenizer_config.json (special-token names) is read when present. */
  static async fromDir(dir: string): Promise<CheckpointTokenizer> {
    const tokenizerPath = join(dir, 'tokenizer.json');
    const configPath = join(dir, 'tokenizer_config.json');
    const [json, config] = await Promise.all([readJsonFile(tokenizerPath), isPresent(configPath).then((present) => (present ? readJsonFile(configPath) : {}))]);
    return new CheckpointTokenizer(json, config, tokenizerPath);
  }

  /** From a GGUF's tokenizer.ggml.* metadata (byte-level BPE vocabularies). */
  static fromGguf(metadata: GgufMetadata): CheckpointTokenizer {
    const { tokenizer, config } = ggufTokenizerFiles(metadata);
    return new CheckpointTokenizer(tokenizer, config, metadata.path);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens ?? false }).ids;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    if (ids.length === 0) return '';
    return this.tokenizer.decode([...ids], {
      skip_special_tokens: options.skipSpecialTokens ?? false,
      // Cleaning spaces before punctuation would change code.
      clean_up_tokenization_spaces: false,
    });
  }

  /** The id of a token by its exact text (special tokens included), or null. */
  tokenId(text: string): number | null {
    return this.tokenizer.token_to_id(text) ?? null;
  }

  tokenText(id: number): string | null {
    return this.tokenizer.id_to_token(id) ?? null;
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** The BPE merges in rank order (both tokenizer.json spellings, "a b" and ["a", "b"]); null for other models. */
  bpeMerges(): [string, string][] | null {
    return this.merges;
  }

  /** A decoder for one sequence of generated tokens that yields text only once it is complete UTF-8. */
  streamDecoder(options: DecodeOptions = {}): StreamDecoder {
    return new StreamDecoder(this, options);
  }

  private configTokenId(value: unknown): number | null {
    const text = isRecord(value) ? value['content'] : value;
    return typeof text === 'string' ? this.tokenId(text) : null;
  }

  private findFimTokens(): FimTokens | null {
    const lookup = (spellings: string[]): FimToken | null => {
      for (const text of spellings) {
        const id = this.tokenId(text);
        if (id !== null) return { id, text };
      }
      return null;
    };
    for (const spelling of FIM_SPELLINGS) {
      const prefix = lookup(spelling.prefix);
      const suffix = lookup(spelling.suffix);
      const middle = lookup(spelling.middle);
      if (prefix && suffix && middle) return { style: spelling.style, prefix, suffix, middle, end: lookup(spelling.end) };
    }
    return null;
  }
}

function bpeMergesOf(tokenizerJson: Record<string, unknown>): [string, string][] | null {
  const model = tokenizerJson['model'];
  if (!isRecord(model) || model['type'] !== 'BPE' || !Array.isArray(model['merges'])) return null;
  return (model['merges'] as unknown[]).map((merge) => {
    if (Array.isArray(merge)) return [String(merge[0]), String(merge[1])];
    const text = String(merge);
    const space = text.indexOf(' ');
    return [text.slice(0, space), text.slice(space + 1)];
  });
}

/**
 * Incremental decoding (the approach of HF text-generation-inference): decode a short window of recent
 * ids and emit only the text past what was already emitted, holding back while the window ends in an
 * incomplete UTF-8 sequence (decoded as U+FFFD). Decoding a window rather than the single new id keeps
 * word-boundary spaces that decoders attach to the neighbouring token.
 */
export class StreamDecoder {
  private readonly tokenizer: CheckpointTokenizer;
  private readonly options: DecodeOptions;
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;

  constructor(tokenizer: CheckpointTokenizer, options: DecodeOptions) {
    this.tokenizer = tokenizer;
    this.options = options;
  }

  /** Adds one generated token; returns the newly completed text (often '', never half a character). */
  push(id: number): string {
    this.ids.push(id);
    const before = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset), this.options);
    const now = this.tokenizer.decode(this.ids.slice(this.prefixOffset), this.options);
    if (now.length <= before.length || now.endsWith('\uFFFD')) return '';
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return now.slice(before.length);
  }

  /** The text still held back (an incomplete character at the end of generation decodes as U+FFFD). */
  flush(): string {
    const before = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset), this.options);
    const now = this.tokenizer.decode(this.ids.slice(this.prefixOffset), this.options);
    this.prefixOffset = this.readOffset = this.ids.length;
    return now.slice(before.length);
  }
}
