// Child processes for benchmarks: servers whose output goes to a file (so the load generator's process
// never spends CPU reading their logs), free ports, RSS from /proc, and a description of the machine.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  logFile: string;
  /** SIGTERM (or the given signal) and wait for exit */
  stop(signal?: NodeJS.Signals): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `node ARGS` with stdout and stderr appended to logFile; no environment KUBE_LATCH_* leaks in. */
export function spawnNode(name: string, args: string[], logFile: string, opts: { nodeArgs?: string[]; env?: Record<string, string> } = {}): Child {
  const fd = openSync(logFile, 'a');
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KUBE_LATCH_')) env[k] = v;
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...args], { cwd: ROOT, stdio: ['ignore', fd, fd], env: { ...env, ...opts.env } });
  closeSync(fd);
  live.add(proc);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      resolve({ code, signal });
    }),
  );
  return {
    name,
    proc,
    pid: proc.pid!,
    logFile,
    exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}

/** Polls until GET url answers 200 (https URLs are checked against ca), or the child exits. */
export async function waitHealthy(child: Child, url: string, ca?: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) {
      throw new Error(`${child.name} exited before it was ready; see ${child.logFile}:\n${tail(child.logFile)}`);
    }
    if ((await getStatus(url, ca).catch(() => 0)) === 200) return;
    if (Date.now() > deadline) throw new Error(`${child.name} not ready at ${url} after ${timeoutMs} ms:\n${tail(child.logFile)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function getStatus(url: string, ca?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { method: 'GET', agent: false, ca, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '';
  }
}

/** Resident set size of a process in bytes (VmRSS), or NaN once it is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** CPU time (user + system) of a process in seconds, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / 100;
  } catch {
    return NaN;
  }
}

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memTotalGiB: number;
  memFreeGiB: number;
  node: string;
  loadavg: number[];
  kernel: string;
}

export function machineInfo(): MachineInfo {
  let kernel = '';
  try {
    kernel = execFileSync('uname', ['-sr'], { encoding: 'utf8' }).trim();
  } catch {
    /* not fatal */
  }
  return {
    nproc: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memTotalGiB: totalmem() / 2 ** 30,
    memFreeGiB: freemem() / 2 ** 30,
    node: process.version,
    loadavg: loadavg(),
    kernel,
  };
}

export function describeMachine(m = machineInfo()): string {
  return `${m.nproc} CPUs (${m.cpuModel}), ${m.memTotalGiB.toFixed(1)} GiB RAM (${m.memFreeGiB.toFixed(1)} GiB free), ${m.kernel}, Node ${m.node}, load average ${m.loadavg.map((l) => l.toFixed(2)).join(' ')}`;
}
