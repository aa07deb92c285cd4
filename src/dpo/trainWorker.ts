/**
 * The training worker thread: one DPO round per worker, so session.run never blocks the extension host.
 * Progress goes back as messages; a cancel aborts the round between steps (the adapter trained so far is
 * still saved, marked cancelled).
 */
import { parentPort } from 'node:worker_threads';
import { runRound } from './round.ts';
import type { FromTrainWorker, ToTrainWorker } from './trainProtocol.ts';

const port = parentPort;
if (!port) throw new Error('training worker: must run in a worker thread');
const send = (m: FromTrainWorker) => port.postMessage(m);
const controller = new AbortController();

port.on('message', (m: ToTrainWorker) => {
  if (m.type === 'cancel') controller.abort();
  else if (m.type === 'start') {
    runRound(m.options, {
      signal: controller.signal,
      onStep: (metrics) => send({ type: 'step', metrics }),
      onPhase: (phase, detail) => send({ type: 'phase', phase, detail }),
    }).then(
      (result) => send({ type: 'done', result }),
      (e: unknown) =>
        send({
          type: 'error',
          message: (e instanceof Error ? e.message : String(e)).split('\n')[0]!,
          input: (e as Error)?.name === 'RoundInputError',
        }),
    );
  }
});
