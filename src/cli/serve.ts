// `sonoedge serve --config FILE`: the long-running runtime for carts. The
// config (YAML or JSON, schema-checked, errors with file, line and key) gives
// the socket, the serial link, the models, the pipeline and the logging.
// SIGTERM or SIGINT stops it gracefully and in bounded time whatever the
// clients do: no new clients or frames, the frames in flight finish and their
// results go out, the clients are told (and cut off after a grace period),
// the engines are released, the final stats are logged ("runtime stopped")
// and the log is flushed; then the process exits 0 (1 if a step had to be
// abandoned at the runtime's shutdown deadline). See docs/DEPLOYMENT.md.
//
// Under systemd's Type=notify ($NOTIFY_SOCKET) it says READY=1 once the
// models are verified and the socket listens, feeds the watchdog
// (WATCHDOG_USEC) only while the pipeline makes progress, and says
// STOPPING=1 when a stop begins (src/runtime/supervision.ts). With
// `metrics`, a Prometheus endpoint on loopback (src/telemetry/metrics.ts).
import { loadServeConfig, pipelineOptions } from '../config/index.js';
import { createLogger } from '../log.js';
import { loadTrustStore } from '../model/package.js';
import { Runtime } from '../runtime/index.js';
import { SystemdNotifier } from '../runtime/supervision.js';
import type { MetricsServer } from '../telemetry/metrics.js';
import type { IgtlBridge } from '../transport/igtl/bridge.js';
import type { ViewerServer } from '../viewer/server.js';
import { commandHelp, parseCommandArgs, UsageError, type CommandSpec } from './args.js';

/** How long the log may take to write out at the end of a stop. */
const LOG_CLOSE_TIMEOUT_MS = 2000;
/** After the stop, how long the process may take to end by itself before it is ended. */
const EXIT_GRACE_MS = 1000;

export const SPEC: CommandSpec = {
  name: 'serve',
  summary: 'the runtime for carts: socket server, serial link and pipeline from a config file (docs/DEPLOYMENT.md)',
  usage: '--config FILE [--check]',
  flags: {
    config: { type: 'string', value: 'FILE', help: 'YAML or JSON config (example: examples/serve.yaml)' },
    check: { type: 'boolean', help: 'validate the config and verify the model packages (against their graphs too), then exit' },
  },
};

export async function serve(args: string[]): Promise<number> {
  const { values, help } = parseCommandArgs(SPEC, args);
  if (help) {
    process.stdout.write(commandHelp(SPEC));
    return 0;
  }
  if (typeof values.config !== 'string') throw new UsageError('missing --config FILE (see sonoedge serve --help)');
  const config = await loadServeConfig(values.config);
  const trustStore = await loadTrustStore(config.models.trustStore);
  if (values.check) {
    const { Pipeline } = await import('../pipeline/index.js');
    const { verifyPackageGraphs } = await import('../model/graph.js');
    const p = await Pipeline.create(pipelineOptions(config, trustStore));
    for (const pkg of [p.viewQuality, p.segmentation]) if (pkg) await verifyPackageGraphs(pkg, [p.options.variant ?? 'fp32']);
    const ids = [p.viewQuality, p.segmentation].filter((x) => x !== undefined).map((x) => `${x.manifest.name}@${x.manifest.version}`);
    process.stdout.write(`${values.config}: ok (models ${ids.join(', ')}; socket ${config.socket.path}${config.serial ? `; serial ${config.serial.path}` : ''})\n`);
    return 0;
  }
  const log = createLogger(config.logging);
  let rt: Runtime;
  let metrics: MetricsServer | undefined;
  let viewer: ViewerServer | undefined;
  let notifier: SystemdNotifier | undefined;
  try {
    notifier = SystemdNotifier.fromEnv((err) => log.warn({ err }, 'sd_notify failed'));
    rt = await Runtime.start({
      pipeline: pipelineOptions(config, trustStore),
      socket: { ...config.socket, log: log.child({ component: 'socket' }) },
      ...(config.serial ? { serial: config.serial } : {}),
      modelSets: config.models.sets,
      ...(config.dicom ? { dicom: config.dicom } : {}),
      log: log.child({ component: 'runtime' }),
    });
  } catch (err) {
    log.fatal({ err }, 'runtime failed to start');
    await log.close();
    throw err;
  }
  let igtl: IgtlBridge | undefined;
  /** The runtime and every part started beside it, closed together (each close is bounded). */
  const closeAll = () => Promise.all([rt.close(), metrics?.close(), viewer?.close(),
    igtl?.close().catch((err: unknown) => log.warn({ err }, 'openigtlink close failed'))]);
  /** A part started after the runtime failed: the runtime and the parts started so far are closed, then `err` is thrown. */
  const startFailed = async (err: unknown): Promise<never> => {
    log.fatal({ err }, 'runtime failed to start');
    await closeAll();
    await log.close();
    throw err;
  };
  if (config.metrics) {
    try {
      const { MetricsServer } = await import('../telemetry/metrics.js');
      metrics = await MetricsServer.start(rt, { ...config.metrics, log: log.child({ component: 'metrics' }) });
      log.info({ host: config.metrics.host, port: metrics.port }, 'metrics listening');
    } catch (err) {
      return startFailed(err);
    }
  }
  if (config.viewer) {
    // The live viewer page (src/viewer): it costs the pipeline nothing until a page is open.
    try {
      const { ViewerServer } = await import('../viewer/server.js');
      // The meter's marks follow rt.qualityBar(): a view package swapped in with another bar moves them.
      viewer = await ViewerServer.start(rt, { ...config.viewer, log: log.child({ component: 'viewer' }) });
    } catch (err) {
      return startFailed(err);
    }
  }
  if (config.igtl) {
    // OpenIGTLink (docs/OPENIGTLINK.md): its streams are the runtime's, its results come from the runtime's publisher.
    try {
      const { IgtlBridge } = await import('../transport/igtl/bridge.js');
      // Its server's errors after listen go to this log ('openigtlink server error') and it serves on; no 'error'
      // listener here, so none is emitted (one without a listener would end the process).
      igtl = new IgtlBridge({ ...config.igtl, streams: rt.streams, log: log.child({ component: 'igtl' }) });
      await igtl.start();
      const g = config.igtl;
      log.info({ mode: g.mode, host: g.host, port: g.mode === 'server' ? igtl.port : g.port }, g.mode === 'server' ? 'openigtlink listening' : 'openigtlink connecting');
    } catch (err) {
      return startFailed(err);
    }
  }
  if (notifier) {
    // Ready: the packages are verified against their graphs, the socket listens (and the serial port is open).
    notifier.ready(`serving ${config.socket.path}; models ${rt.current() ?? 'none'}`);
    const usec = notifier.target.watchdogUsec;
    if (usec !== undefined) {
      const n = notifier;
      rt.startWatchdog(usec / 2000, () => n.watchdog());
    }
    log.info({ notifySocket: notifier.target.socket, watchdogMs: usec === undefined ? null : usec / 1000 }, 'systemd notified: ready');
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        log.warn({ signal }, 'already stopping');
        return;
      }
      stopping = true;
      log.info({ signal }, 'stopping');
      notifier?.stopping(`stopping: ${signal}`);
      closeAll().then(([r]) => r)
        .then((r) => (r.complete ? 0 : 1), (err: unknown) => { log.error({ err }, 'error while stopping'); return 1; })
        .then(async (code) => {
          notifier?.close();
          // A log destination that takes nothing (a stdout pipe nobody reads) cannot hold the stop either.
          await log.close(LOG_CLOSE_TIMEOUT_MS);
          process.off('SIGTERM', onTerm);
          process.off('SIGINT', onInt);
          resolve(code);
          // Whatever still holds the event loop (a step abandoned at the deadline) must not keep the process alive.
          setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
        });
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}
