// hydra serve: the OpenAI-compatible HTTP API (@hydra-ts/server) over one model, with AR or
// speculative decoding chosen by flags. Prints the URL once listening; SIGTERM or SIGINT stops
// accepting requests, lets the accepted ones finish, and exits.
import path from 'node:path';
import { DecoderEngine, createServer } from '@hydra-ts/server';
import type { DraftHead } from '@hydra-ts/heads';
import { UsageError } from '../errors';
import { decoderOption, deviceLine, headsFileKind, intOption, treeSpecOption } from '../options';
import { defaultHeadFile } from '../paths';
import { withDefaultTree } from '../tuned-tree';
import { headFor, lastValues, loadModel } from './generate';

export interface ServeFlags {
  model?: string;
  dtype?: string;
  softwareThreads?: string | number;
  host?: string;
  port?: string | number;
  name?: string;
  decoder?: string;
  heads?: string;
  tree?: string;
  sampledVerifier?: string;
  maxQueue?: string | number;
  maxContext?: number | string;
  allowNonfinite?: boolean;
  log?: boolean;
}

/** Resolves once the server has stopped: after SIGTERM / SIGINT and the last accepted answer. */
export async function runServe(rawFlags: ServeFlags): Promise<void> {
  const flags = lastValues(rawFlags);
  const host = String(flags.host ?? '127.0.0.1');
  const port = intOption('port', flags.port ?? 8080, 0, 65535);
  const maxQueue = intOption('max-queue', flags.maxQueue ?? 16, 0, 1 << 20);
  const sampledVerifier = String(flags.sampledVerifier ?? 'sample');
  if (sampledVerifier !== 'sample' && sampledVerifier !== 'typical') throw new UsageError(`--sampled-verifier ${sampledVerifier}: expected sample (lossless) or typical`);
  const decoder = decoderOption(flags.decoder ?? (flags.heads ? (headsFileKind(flags.heads) ?? 'hydra') : 'ar'));
  const givenTree = flags.tree ? treeSpecOption(flags.tree) : null;

  const { model, path: modelPath } = await loadModel(flags.model, flags.dtype, flags.softwareThreads ?? 0, flags);
  let head: DraftHead | null = null;
  let engine: DecoderEngine | null = null;
  try {
    head = await headFor(model, modelPath, decoder, flags.heads, flags.allowNonfinite === true);
    // Without --tree, the tree tuned for these heads on this device (cached); where no tree beats AR, AR.
    const chosen = await withDefaultTree(model, modelPath, head, givenTree, { tree: flags.tree, headFile: flags.heads ?? defaultHeadFile(modelPath, decoder) });
    head = chosen.head;
    const tree = chosen.tree;
    const id = flags.name ?? path.basename(modelPath.replace(/[\\/]+$/, '')).replace(/\.bin$/, '');
    engine = new DecoderEngine(model, {
      id,
      head,
      tree,
      sampledVerifier,
      info: { decoder: head ? decoder : 'ar', tree: tree?.name ?? null, device: model.device.name },
    });
    const server = createServer(engine, { maxQueue, logger: flags.log === true });
    const url = await server.listen({ host, port });
    process.stdout.write(`hydra serve: listening on ${url} (model ${id}, ${head ? `${decoder}, tree ${tree!.name}` : 'ar'}, queue ${maxQueue})\n`);
    process.stderr.write(`device: ${deviceLine(model.device.name)}\n`);
    await new Promise<void>((resolve, reject) => {
      const stop = (signal: NodeJS.Signals) => {
        process.stderr.write(`hydra serve: ${signal}: finishing ${server.queue.running + server.queue.waiting} accepted request(s), then exiting\n`);
        server.close().then(resolve, reject);
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  } finally {
    engine?.dispose();
    head?.dispose?.();
    model.dispose();
  }
}
