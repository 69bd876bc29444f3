// What `dev-cluster up --with a,b` adds to the base control plane. Each extra names the tools it needs
// from test/controlplane/build-tools.sh, the kwok flags it wants, and starts its processes once the
// apiserver and nodes are up. New extras register here.
import type { ApiCredentials } from '../api.ts';
import { runBuildScript } from '../toolchain.ts';
import { argocdExtra } from './argocd.ts';
import { fluxExtra } from './flux.ts';
import { metricsExtra } from './metrics.ts';

export type ExtraName = 'metrics' | 'flux' | 'helm-controller' | 'argocd';
export const EXTRA_NAMES: readonly ExtraName[] = ['metrics', 'flux', 'helm-controller', 'argocd'];

/** What an extra may use while it starts. */
export interface ExtraContext {
  dir: string;
  kubeconfig: string;
  creds: ApiCredentials;
  kubectl: string;
  /** starts a detached process recorded in the cluster's state (so `down` stops it) */
  launch(name: string, exe: string, args: string[], env?: NodeJS.ProcessEnv): void;
  /** polls until ready, failing early when a process of the cluster died */
  waitFor(what: string, ready: () => Promise<boolean>): Promise<void>;
  progress(line: string): void;
  /** endpoints the extra offers (e.g. git: http://127.0.0.1:P), kept in state.json and returned by `up` */
  endpoints: Record<string, string>;
}

export interface Extra {
  /** tools of build-tools.sh it runs */
  tools: readonly string[];
  /** prepares ports and files before the base cluster starts; returns extra kwok flags */
  plan(toolDirs: Record<string, string>): Promise<{ kwokArgs: string[] }>;
  start(ctx: ExtraContext): Promise<void>;
}

const FACTORIES: Record<Exclude<ExtraName, 'helm-controller'>, (names: readonly ExtraName[]) => Extra> = {
  metrics: metricsExtra,
  // helm-controller runs beside Flux's other controllers: it needs source-controller's chart artifacts
  flux: (names) => fluxExtra({ helm: names.includes('helm-controller') }),
  argocd: () => argocdExtra(),
};

/** `--with` text: comma-separated names; throws one clear line on an unknown name. */
export function parseExtras(text: string): ExtraName[] {
  const names = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const n of names) {
    if (!(EXTRA_NAMES as readonly string[]).includes(n)) throw new Error(`unknown extra "${n}" (known: ${EXTRA_NAMES.join(', ')})`);
  }
  return [...new Set(names)] as ExtraName[];
}

export interface PlannedExtras {
  kwokArgs: string[];
  start(ctx: ExtraContext): Promise<void>;
}

/** Builds (or finds cached) the tools the extras need and plans them, in the order named. */
export async function planExtras(names: readonly ExtraName[], progress: (l: string) => void): Promise<PlannedExtras> {
  // `helm-controller` is part of the flux extra (it implies flux).
  const factories = [...new Set(names.map((n) => (n === 'helm-controller' ? 'flux' : n)))];
  const extras = factories.map((n) => FACTORIES[n](names));
  const tools = [...new Set(extras.flatMap((e) => e.tools))];
  const toolDirs: Record<string, string> = {};
  if (tools.length > 0) {
    const dirs = await runBuildScript('build-tools.sh', tools, progress);
    tools.forEach((t, i) => (toolDirs[t] = dirs[i]!));
  }
  const kwokArgs: string[] = [];
  for (const e of extras) kwokArgs.push(...(await e.plan(toolDirs)).kwokArgs);
  return {
    kwokArgs,
    async start(ctx) {
      for (const e of extras) await e.start(ctx);
    },
  };
}
