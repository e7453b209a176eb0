// The worker of the hand-written worker_threads baseline: analyses each file path it is sent and
// posts the result back; the same `analysis` function the serial and millrace versions call.
import { parentPort } from 'node:worker_threads';
import { analysis } from '../../examples/log-analysis/analysis.js';

const port = parentPort!;
port.on('message', (path: string) => {
  analysis(path).then(
    (result) => port.postMessage({ result }),
    (error: unknown) => port.postMessage({ error: error instanceof Error ? error.message : String(error) }),
  );
});
