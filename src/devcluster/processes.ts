// Detached child processes that outlive the CLI which started them, and their orderly end.
// Each runs in its own process group (setsid), so stopping it by -pgid also ends anything it spawned.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';

/** Starts `bin args` detached, stdout and stderr appended to logFile; returns its pid (= its pgid). */
export function spawnDetached(bin: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): number {
  const fd = openSync(logFile, 'a');
  try {
    writeSync(fd, `\n--- ${new Date().toISOString()} ${bin} ${args.join(' ')}\n`);
    const child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd], env });
    if (child.pid === undefined) throw new Error(`could not start ${bin}`);
    child.on('error', () => {}); // a failed start shows up as a dead pid; the caller reports the log
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** True while pid runs and is not a zombie; with `exe`, only when its command line names that binary. */
export function alive(pid: number, exe?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/\)\s+Z\s/.test(stat)) return false;
    if (exe !== undefined) {
      const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
      // A process may rewrite its title after the name (redis-server becomes "redis-server 127.0.0.1:P").
      return argv0 === exe || argv0.startsWith(`${exe} `);
    }
  } catch {
    // No /proc (not Linux): kill(0) is the best evidence there is.
  }
  return true;
}

/** SIGTERM to the process group, then SIGKILL after graceMs; resolves once the leader is gone. */
export async function stopGroup(pid: number, graceMs = 10_000): Promise<void> {
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  if (!alive(pid)) return;
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) {
    signal('SIGKILL');
    const hard = Date.now() + 5000;
    while (alive(pid) && Date.now() < hard) await sleep(50);
  }
  if (alive(pid)) throw new Error(`process ${pid} did not exit after SIGKILL`);
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice, so collisions are rare). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
