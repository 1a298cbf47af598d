#!/usr/bin/env node
// The sonoedge command line: one table of commands, one error path. A
// UsageError (a mistake on the command line) exits 2, any other error 1; both
// print one line, with a stack trace only under --debug.
import { UsageError } from './args.js';
import { selfcheck } from './selfcheck.js';
import { VERSION } from '../version.js';
import { closest } from '../util/options.js';

// Each command module exports `run(args): Promise<number>` (the exit code); add one line here per command.
const COMMANDS: Record<string, { summary: string; run: (args: string[]) => Promise<number> }> = {
  bench: { summary: 'latency per stage, provider and variant on this machine (--compare A.json B.json for ratios)', run: async (a) => (await import('./bench.js')).bench(a) },
  dicom: { summary: 'DICOM files: inspect FILE (transfer syntax, photometric, frames, regions, spacing; decodes every frame)', run: async (a) => (await import('./dicom.js')).dicom(a) },
  demo: { summary: 'the main job: the bundled models on the bundled A4C cine over the runtime socket; summary and HTML report', run: async (a) => (await import('./demo.js')).demo(a) },
  doctor: { summary: 'check this machine: CPU, ONNX Runtime, providers and why not, GPU, socket path, serial ports, models', run: async (a) => (await import('./doctor.js')).doctor(a) },
  models: { summary: 'model packages: list, verify PATH..., inspect PATH', run: async (a) => (await import('./models.js')).models(a) },
  replay: { summary: 'a recorded study (DICOM, PNG folder, raw) through the pipeline: JSON lines and an overlay report', run: async (a) => (await import('./replay.js')).replay(a) },
  serve: { summary: 'the long-running runtime for carts, from a YAML or JSON config (--config FILE)', run: async (a) => (await import('./serve.js')).serve(a) },
  status: { summary: 'a running serve\'s state, models, streams, latency, errors and memory, from its metrics endpoint', run: async (a) => (await import('./status.js')).status(a) },
  selfcheck: { summary: 'load the native addon and preprocess a synthetic frame against the reference', run: selfcheck },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)}${c.summary}`);
  return `sonoedge ${VERSION}: edge inference runtime for ultrasound scanners\n\nUsage: sonoedge <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nOptions:\n  --help      this text\n  --version   print the version\n  --debug     print stack traces of errors\n`;
}

async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  if (args.length === 0 || args[0] === '--help' || args[0] === '-h' || args[0] === 'help') {
    process.stdout.write(usage());
    return args.length === 0 ? 1 : 0;
  }
  if (args[0] === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const [name, ...rest] = args;
  const command = COMMANDS[name];
  if (command === undefined) {
    const hint = closest(name, Object.keys(COMMANDS));
    process.stderr.write(`sonoedge: unknown command ${JSON.stringify(name)}${hint ? `; did you mean ${JSON.stringify(hint)}?` : ''} (see sonoedge --help)\n`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    const e = err as Error & { code?: string };
    if (err instanceof UsageError) {
      process.stderr.write(`sonoedge ${name}: ${e.message}\n`);
      if (debug && e.stack) process.stderr.write(`${e.stack}\n`);
      return 2;
    }
    process.stderr.write(`sonoedge ${name}: ${e.code ? `[${e.code}] ` : ''}${e.message}\n`);
    if (debug && e.stack) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

// `sonoedge demo | head`: a reader that goes away is not an error of ours.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

process.exitCode = await main(process.argv.slice(2));
