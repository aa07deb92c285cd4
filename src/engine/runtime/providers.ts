/**
 * Execution-provider choice: cpu always; webgpu (bundled in onnxruntime-node for linux-x64) when asked and an
 * adapter exists; cuda when its libraries were installed. Anything unavailable falls back to cpu with a
 * message saying why.
 */
import * as ort from 'onnxruntime-node';

export type Device = 'cpu' | 'webgpu' | 'cuda';

export interface ProviderChoice {
  device: Device;
  /** Why the requested device was not used; null when it was. */
  fallback: string | null;
}

export function isDevice(s: string): s is Device {
  return s === 'cpu' || s === 'webgpu' || s === 'cuda';
}

/** The backends this onnxruntime-node build can load (cuda only after its optional download). */
export function availableBackends(): string[] {
  try {
    return ort.listSupportedBackends().map((b) => b.name);
  } catch {
    return ['cpu'];
  }
}

/** Static part of the choice; a session that fails to start on the chosen device also falls back (see session.ts). */
export function chooseProvider(requested: Device): ProviderChoice {
  if (requested === 'cpu') return { device: 'cpu', fallback: null };
  const backends = availableBackends();
  if (!backends.includes(requested)) {
    const hint = requested === 'cuda' ? ' (install its libraries: npm explore onnxruntime-node -- npm run postinstall -- --onnxruntime-node-install=cuda12)' : '';
    return { device: 'cpu', fallback: `${requested} is not available in this onnxruntime-node build${hint}; using cpu` };
  }
  return { device: requested, fallback: null };
}
