import { availableParallelism } from 'node:os';

/**
 * The intra-op thread count a session gets: 0 lets ONNX Runtime decide; a count above this machine's cores
 * only adds contention (and past a few thousand, thread stacks exhaust memory), so it is lowered to the
 * cores, with a note for the user.
 */
export function clampThreads(requested: number, cores = availableParallelism()): { threads: number; note?: string } {
  if (requested <= cores) return { threads: requested };
  return { threads: cores, note: `--threads ${requested} is more than this machine's ${cores} cores; using ${cores}` };
}
