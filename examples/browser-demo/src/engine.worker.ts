// The demo's decoding thread: the worker engine's host, answering the page's WorkerEngine.
import { serveEngine } from '@hydra-ts/worker/host';

serveEngine();
