/**
 * The training worker thread: one DPO round per worker, so session.run never blocks the extension host.
 * Progress goes back as messages; a cancel aborts the round between steps (the adapter trained so far is
 * still saved, marked cancelled).
 */
import { parentPort } from 'node:worker_threads';
import { isInputError, firstLine } from '../inputError.ts';
import { runRound } from './round.ts';
import type { FromTrainWorker, ToTrainWorker } from './trainProtocol.ts';

const port = parentPort;
if (!port) throw new Error('training worker: must run in a worker thread');
const send = (m: FromTrainWorker) => port.postMessage(m);
const controller = new AbortController();
let crashRequested = false;

port.on('message', (m: ToTrainWorker) => {
  if (m.type === 'cancel') controller.abort();
  else if (m.type === 'crash') crashRequested = true;
  else if (m.type === 'start') {
    runRound(m.options, {
      signal: controller.signal,
      onRun: (runId) => send({ type: 'run', runId }),
      onStep: (metrics) => {
        send({ type: 'step', metrics });
        // between steps no ONNX Runtime call is in flight: the thread can end without taking the process along
        if (crashRequested) process.exit(1);
      },
      onPhase: (phase) => send({ type: 'phase', phase }),
      onPlan: (plan) => send({ type: 'plan', plan }),
    }).then(
      (result) => send({ type: 'done', result }),
      (e: unknown) =>
        send({
          type: 'error',
          message: firstLine(e),
          input: isInputError(e),
        }),
    );
  }
});
