/**
 * A GGUF's tokenizer metadata (tokenizer.ggml.*) → the tokenizer.json and tokenizer_config.json objects that
 * src/engine/hf/tokenizer.ts reads, so a GGUF model tokenizes through the same code as a model folder. The
 * byte-level BPE (`gpt2`) vocabularies are rebuilt to split text exactly as llama.cpp does: its pre-tokenizer
 * regexes per `tokenizer.ggml.pre` (llama-vocab.cpp) applied one after another, each keeping matches and the
 * text between them, then byte-level BPE over the merges. SentencePiece (`llama`) vocabularies are refused.
 */
import { InputError } from '../../inputError.ts';
import type { GgufMetadata } from './gguf.ts';

const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const LLAMA3_REGEX =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

interface PreTokenizer {
  regexes: readonly string[];
  /** A word already in the vocabulary is one token, merges or not (llama.cpp's ignore_merges for Llama 3). */
  ignoreMerges: boolean;
}

/** tokenizer.ggml.pre → llama.cpp's pre-tokenizer for it. */
const PRE_TOKENIZERS: Record<string, PreTokenizer> = {
  default: { regexes: ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2_REGEX, '\\p{N}+', '[0-9][0-9][0-9]'], ignoreMerges: false },
  'gpt-2': { regexes: [GPT2_REGEX], ignoreMerges: false },
  'llama-bpe': { regexes: [LLAMA3_REGEX], ignoreMerges: true },
  llama3: { regexes: [LLAMA3_REGEX], ignoreMerges: true },
  qwen2: { regexes: [QWEN2_REGEX], ignoreMerges: false },
  'deepseek-coder': { regexes: ['[\\r\\n]', '\\s?\\p{L}+', '\\s?\\p{P}+', '[一-龥ࠀ-一가-퟿]+', '\\p{N}'], ignoreMerges: false },
  starcoder: { regexes: ['\\p{N}', GPT2_REGEX], ignoreMerges: false },
  smollm: { regexes: ['\\p{N}', GPT2_REGEX], ignoreMerges: false },
  refact: { regexes: ['\\p{N}', GPT2_REGEX], ignoreMerges: false },
};

/** llama.cpp's token types (llama_token_type). */
const TOKEN_TYPE = { control: 3, userDefined: 4 } as const;

export interface TokenizerFiles {
  tokenizer: Record<string, unknown>;
  config: Record<string, unknown>;
}

export function ggufTokenizerFiles(m: GgufMetadata): TokenizerFiles {
  const model = m.string('tokenizer.ggml.model');
  if (model === 'llama') throw new InputError(`${m.path}: SentencePiece vocabularies (tokenizer.ggml.model "llama") are not supported; use a byte-level BPE ("gpt2") model`);
  if (model !== 'gpt2') throw new InputError(`${m.path}: tokenizer.ggml.model "${model}" is not supported (only "gpt2")`);
  const pre = m.optionalString('tokenizer.ggml.pre') ?? 'default';
  const preTokenizer = PRE_TOKENIZERS[pre];
  if (!preTokenizer) throw new InputError(`${m.path}: tokenizer.ggml.pre "${pre}" is not supported (supported: ${Object.keys(PRE_TOKENIZERS).join(', ')})`);
  const tokens = m.strings('tokenizer.ggml.tokens');
  const types = m.optionalNumbers('tokenizer.ggml.token_type') ?? [];
  if (types.length !== 0 && types.length !== tokens.length) {
    throw new InputError(`${m.path}: tokenizer.ggml.token_type has ${types.length} entries for ${tokens.length} tokens`);
  }
  const vocab: Record<string, number> = {};
  tokens.forEach((token, id) => (vocab[token] = id));
  const addedTokens = tokens.flatMap((content, id) =>
    types[id] === TOKEN_TYPE.control || types[id] === TOKEN_TYPE.userDefined
      ? [{ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: types[id] === TOKEN_TYPE.control }]
      : [],
  );
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [...preTokenizer.regexes.map((regex) => ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false })), byteLevel],
    },
    post_processor: null,
    decoder: byteLevel,
    model: byteLevelBpeModel(vocab, m.strings('tokenizer.ggml.merges'), preTokenizer.ignoreMerges),
  };
  return { tokenizer, config: specialTokens(m, tokens) };
}

/** tokenizer.json's `model` for a byte-level BPE: merges over byte-level pieces, no unknown token, no byte fallback. */
export function byteLevelBpeModel(vocab: Record<string, number>, merges: readonly string[] | readonly [string, string][], ignoreMerges = false): Record<string, unknown> {
  return {
    type: 'BPE',
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: false,
    ignore_merges: ignoreMerges,
    vocab,
    merges,
  };
}

/** tokenizer_config.json's special tokens by text; BOS only where the model adds it (tokenizer.ggml.add_bos_token). */
function specialTokens(m: GgufMetadata, tokens: readonly string[]): Record<string, unknown> {
  const text = (key: string): string | null => {
    const id = m.optionalTokenId(key);
    if (id === null) return null;
    if (id >= tokens.length) throw new InputError(`${m.path}: ${key} ${id} is outside the vocabulary (${tokens.length} tokens)`);
    return tokens[id]!;
  };
  const bos = text('tokenizer.ggml.bos_token_id');
  return {
    bos_token: m.optionalBoolean('tokenizer.ggml.add_bos_token') === true ? bos : null,
    eos_token: text('tokenizer.ggml.eos_token_id'),
    pad_token: text('tokenizer.ggml.padding_token_id'),
  };
}
