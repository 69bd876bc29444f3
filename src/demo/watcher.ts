// `kube-latch watcher` as a child process, on a free metrics port, with helpers to wait for /readyz and
// to read its Prometheus metrics. Used by the demo and the e2e suites.
import { httpGet, poll, startCli, type CliChild, type StartOptions } from './children.ts';

export interface WatcherChild extends CliChild {
  /** the port of /healthz, /readyz and /metrics (from its "watcher starting" line) */
  readonly metricsPort: number;
  /** resolves once /readyz answers 200 */
  ready(timeoutMs?: number): Promise<void>;
  /** one sample of a metric without labels (or with exactly these labels), undefined when absent */
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>;
  /** whether it holds the Lease, from kube_latch_watcher_leader */
  isLeader(): Promise<boolean>;
}

/** Starts `kube-latch watcher ARGS --metrics-port 0` and resolves once it has said which port it serves. */
export async function startWatcherChild(args: readonly string[], opts: StartOptions = {}): Promise<WatcherChild> {
  const child = startCli('watcher', [...args, ...(args.includes('--metrics-port') ? [] : ['--metrics-port', '0'])], opts);
  let starting;
  try {
    starting = await child.waitForLog('its "watcher starting" line', (l) => l.msg === 'watcher starting', 20_000);
  } catch (e) {
    await child.stop('SIGKILL');
    throw e;
  }
  const metricsPort = Number(starting['metricsPort']);
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number | undefined> => {
    const r = await httpGet(metricsPort, '/metrics');
    if (r.status !== 200) throw new Error(`GET /metrics answered ${r.status}`);
    const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',');
    for (const line of r.body.split('\n')) {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const have = (m[2] ?? '').split(',').filter((x) => x !== '').sort().join(',');
      if (have === want) return Number(m[3]);
    }
    return undefined;
  };
  return {
    ...child,
    metricsPort,
    async ready(timeoutMs = 60_000) {
      await poll(`${child.name} /readyz`, async () => {
        const ex = child.exit();
        if (ex) throw new Error(`${child.name} exited (${ex.code ?? ex.signal}): ${child.stderr().trim().split('\n').pop() ?? ''}`);
        return (await httpGet(metricsPort, '/readyz')).status === 200;
      }, timeoutMs, 100).catch((e: Error) => {
        throw child.exit() ? new Error(`${child.name} exited (${child.exit()!.code ?? child.exit()!.signal}): ${child.stderr().trim().split('\n').pop() ?? ''}`) : e;
      });
    },
    metric,
    isLeader: async () => (await metric('kube_latch_watcher_leader')) === 1,
  };
}
