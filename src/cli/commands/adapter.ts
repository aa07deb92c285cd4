import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ADAPTER_EXPORT_FORMATS, exportAdapter, importAdapter, isAdapterExportFormat } from '../../dpo/adapterTransfer.ts';
import { openStore } from '../../store/store.ts';
import { type Command, type Output, type ParsedArgs, UsageError, commandError, requireString } from '../command.ts';

const USAGE = [
  'prefer adapter export DIR --format gguf|peft|ollama --out PATH [--model BASE] [--json]',
  'prefer adapter import DIR --model BASE (--db DB [--out DIR] | --out DIR) [--json]',
  '',
  'export: gguf    one file llama.cpp loads beside its base (llama-server -m base.gguf --lora PATH)',
  '        peft    adapter_config.json + adapter_model.safetensors, as PEFT, vLLM and TRL read them',
  '        ollama  a folder with adapter.gguf and a Modelfile (ollama create NAME -f PATH/Modelfile)',
  '        BASE defaults to the model the adapter was trained on; PATH must not exist yet.',
  'import: a PEFT LoRA adapter trained elsewhere (TRL/PEFT), checked against BASE (architecture, every tensor',
  '        shape, target modules, r, lora_alpha, use_rslora) and saved at DIR (default with --db: beside the',
  '        database, under adapters/), registered in DB as the next adapter version.',
].join('\n');

function folderArgument(args: ParsedArgs, action: string): string {
  const dir = args.positionals[1];
  if (dir === undefined || args.positionals.length > 2) throw new UsageError(`prefer adapter ${action}: give one adapter folder (prefer adapter ${action} DIR …)`);
  if (!(existsSync(dir) && statSync(dir).isDirectory())) throw new UsageError(`prefer adapter ${action}: ${dir}: no such adapter folder`);
  return dir;
}

async function runExport(args: ParsedArgs, out: Output): Promise<number> {
  const dir = folderArgument(args, 'export');
  const format = requireString(args, 'format', 'adapter export');
  if (!isAdapterExportFormat(format)) throw new UsageError(`prefer adapter export: --format must be one of ${ADAPTER_EXPORT_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
  const target = requireString(args, 'out', 'adapter export');
  if (args.values.db !== undefined) throw new UsageError('prefer adapter export: --db is for import only');
  const modelPath = args.values.model as string | undefined;
  if (modelPath !== undefined && !existsSync(modelPath)) throw new UsageError(`prefer adapter export: --model ${modelPath}: no such model`);
  try {
    const result = await exportAdapter({ dir, format, out: target, modelPath });
    out.result(result, `adapter exported as ${format} to ${result.out}${result.from ? ` (Modelfile: FROM ${result.from})` : ''}`);
    return 0;
  } catch (e) {
    throw commandError('adapter export', e);
  }
}

async function runImport(args: ParsedArgs, out: Output): Promise<number> {
  const dir = folderArgument(args, 'import');
  const modelPath = requireString(args, 'model', 'adapter import');
  if (!existsSync(modelPath)) throw new UsageError(`prefer adapter import: --model ${modelPath}: no such model`);
  if (args.values.format !== undefined) throw new UsageError('prefer adapter import: --format is for export only');
  const db = args.values.db as string | undefined;
  if (db !== undefined && !existsSync(db)) throw new UsageError(`prefer adapter import: --db ${db}: no such database`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  let target = args.values.out as string | undefined;
  if (target === undefined && db === undefined) throw new UsageError('prefer adapter import: give --db DB (and optionally --out DIR) or --out DIR');
  try {
    // the store opens first: a database that cannot take the adapter leaves no folder behind
    const store = db === undefined ? undefined : openStore(db);
    try {
      if (target === undefined) {
        target = join(dirname(db!), 'adapters', `imported-${stamp}`);
        mkdirSync(dirname(target), { recursive: true });
      }
      const result = await importAdapter({ dir, modelPath, out: target });
      let version: number | undefined;
      try {
        version = store?.registerAdapter({ path: result.out, baseModelHash: result.base.hash, metrics: {} }).version;
      } catch (e) {
        rmSync(result.out, { recursive: true, force: true });
        throw e;
      }
      const { rank, alpha, rsLora, pairs } = result.lora;
      const summary = { adapter: result.out, version, rank, alpha, rsLora, linears: pairs.length };
      out.result(summary, `adapter imported to ${result.out}${version === undefined ? '' : ` as version ${version}`}: ${pairs.length} linears, r ${rank}, alpha ${alpha}${rsLora ? ', rsLoRA' : ''}`);
      return 0;
    } finally {
      store?.close();
    }
  } catch (e) {
    throw commandError('adapter import', e);
  }
}

export const adapter: Command = {
  name: 'adapter',
  summary: 'export an adapter for llama.cpp, Ollama or PEFT; import a PEFT adapter trained elsewhere',
  usage: USAGE,
  allowPositionals: true,
  options: {
    format: { type: 'string' },
    out: { type: 'string' },
    model: { type: 'string' },
    db: { type: 'string' },
  },
  run(args, out) {
    const action = args.positionals[0];
    if (action === 'export') return runExport(args, out);
    if (action === 'import') return runImport(args, out);
    throw new UsageError(`prefer adapter: say export or import, got ${JSON.stringify(action ?? '')} (prefer adapter --help)`);
  },
};
