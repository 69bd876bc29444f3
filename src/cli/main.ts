#!/usr/bin/env node
// The one `kube-latch` binary: dispatches to a subcommand module, loaded lazily so that
// `simulate` does not pay for express or the Kubernetes client.
import { UsageError } from './flags.ts';

type Run = (argv: string[]) => Promise<number>;

const commands: Record<string, { summary: string; load: () => Promise<{ run: Run }> }> = {
  webhook: { summary: 'HTTPS mutating admission server (/mutate)', load: () => import('./webhook.ts') },
  watcher: { summary: 'write latch points back to git', load: () => import('./watcher.ts') },
  diff: { summary: 'declared (git) against live, with bands and states', load: () => import('./diff.ts') },
  simulate: { summary: 'replay a replica trace through a policy', load: () => import('./simulate.ts') },
  demo: { summary: 'walk through one latch on a local control plane', load: () => import('./demo.ts') },
  'dev-cluster': { summary: 'start or stop a local control plane (up|down)', load: () => import('./dev-cluster.ts') },
};

function usage(): string {
  const rows = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return `usage: kube-latch <command> [flags]\n\ncommands:\n${rows.join('\n')}\n\nRun 'kube-latch <command> --help' for its flags.\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`kube-latch: unknown command "${name}" (try --help)\n`);
    return 2;
  }
  try {
    const mod = await cmd.load();
    return await mod.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`kube-latch ${name}: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`kube-latch ${name}: ${(err as Error).message?.split('\n')[0] ?? String(err)}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// Long-running commands (webhook, watcher) resolve only when they have shut down.
process.exitCode = code;
