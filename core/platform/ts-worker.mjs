// Starts a worker thread on a TypeScript module (workerData.module, a file URL): Node 20's worker
// threads do not inherit the tsx hooks of the process that starts them, so the thread registers them
// itself before importing the module. The module reads its own input from workerData.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.module);
