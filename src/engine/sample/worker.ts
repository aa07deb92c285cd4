/**
 * The engine worker thread: hosts the ONNX Runtime session so that session.run, which blocks its thread for a
 * whole step, never blocks the extension host or the CLI's event loop. Messages are handled between decode
 * steps, which is how a cancel lands within a step's time.
 */
import { parentPort } from 'node:worker_threads';
import { Engine } from './engine.ts';
import type { FromWorker, ToWorker } from './protocol.ts';
import { firstLine } from '../../inputError.ts';

const port = parentPort;
if (!port) throw new Error('engine worker: must run in a worker thread');

let engine: Engine | null = null;
const running = new Map<number, AbortController>();
let queue: Promise<void> = Promise.resolve();
const send = (m: FromWorker) => port.postMessage(m);
const failure = (id: number | null, e: unknown): FromWorker => ({
  type: 'error',
  id,
  message: firstLine(e),
  name: e instanceof Error ? e.name : 'Error',
});

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'open':
      Engine.open(m.options).then(
        (e) => {
          engine = e;
          send({ type: 'opened', startup: e.startup });
        },
        (e: unknown) => send(failure(null, e)),
      );
      break;
    case 'complete': {
      if (!engine) {
        send(failure(m.id, new Error('engine worker: no model open')));
        break;
      }
      const controller = new AbortController();
      running.set(m.id, controller);
      const open = engine;
      // One request at a time: they share the session and its KV cache. A request cancelled while it waits
      // starts already aborted and returns at once.
      queue = queue
        .then(() => open.complete(m.request, { signal: controller.signal, onText: (index, text) => send({ type: 'text', id: m.id, index, text }) }))
        .then(
          (result) => send({ type: 'result', id: m.id, result }),
          (e: unknown) => send(failure(m.id, e)),
        )
        .finally(() => running.delete(m.id));
      break;
    }
    case 'cancel':
      running.get(m.id)?.abort();
      break;
    case 'close':
      for (const c of running.values()) c.abort();
      void (engine?.close() ?? Promise.resolve()).finally(() => {
        send({ type: 'closed' });
        port.close();
      });
      break;
  }
});
