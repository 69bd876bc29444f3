#!/usr/bin/env node
// The one `kube-latch` binary: dispatches to a subcommand module, loaded lazily so that
// `simulate` does not pay for express or the Kubernetes client.
import { basename } from 'node:path';
import { UsageError } from './flags.ts';

type Run = (argv: string[]) => Promise<number>;

const commands: Record<string, { summary: string; load: () => Promise<{ run: Run }> }> = {
  webhook: { summary: 'HTTPS mutating admission server (/mutate)', load: () => import('./webhook.ts') },
  watcher: { summary: 'write latch points back to git', load: () => import('./watcher.ts') },
  status: { summary: 'one row per opted-in workload: band, state, git location, last latch', load: () => import('./status.ts') },
  diff: { summary: 'declared (git) against live, with bands and states', load: () => import('./diff.ts') },
  simulate: { summary: 'replay a replica trace through a policy', load: () => import('./simulate.ts') },
  demo: { summary: 'walk through one latch on a local control plane', load: () => import('./demo.ts') },
  'dev-cluster': { summary: 'start or stop a local control plane (up|down)', load: () => import('./dev-cluster.ts') },
};

// Installed (copied or symlinked) as `kubectl-latch` on PATH, kubectl runs it as a plugin: `kubectl latch
// status -n prod` execs `kubectl-latch status -n prod`, so the arguments are already kube-latch's; only the
// name it calls itself by changes.
export function programName(script: string | undefined): string {
  return script !== undefined && /^kubectl-latch(\.[cm]?[jt]s)?$/.test(basename(script)) ? 'kubectl latch' : 'kube-latch';
}

const PROG = programName(process.argv[1]);

function usage(): string {
  const rows = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return `usage: ${PROG} <command> [flags]\n\ncommands:\n${rows.join('\n')}\n\nRun '${PROG} <command> --help' for its flags.\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`${PROG}: unknown command "${name}" (try --help)\n`);
    return 2;
  }
  try {
    const mod = await cmd.load();
    return await mod.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${PROG} ${name}: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`${PROG} ${name}: ${(err as Error).message?.split('\n')[0] ?? String(err)}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// Long-running commands (webhook, watcher) resolve only when they have shut down.
process.exitCode = code;
