// `kube-latch <subcommand>` as a child process of this one: the demo runs the webhook and the watcher
// this way, and so do the e2e suites, so that what they exercise is the real CLI. The child's pino JSON
// lines are parsed as they arrive (and teed to a log file), so callers can wait for a given line.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { get } from 'node:http';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** src/cli/main.ts when running from source, dist/cli/main.js when built. */
export const CLI_MAIN = fileURLToPath(new URL(`../cli/main${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

export type LogLine = Record<string, unknown> & { msg?: string };

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface CliChild {
  readonly name: string;
  readonly pid: number;
  /** pino lines so far (non-JSON stdout lines become `{msg}`) */
  logs(): readonly LogLine[];
  stderr(): string;
  /** resolves when the process has exited */
  readonly exited: Promise<Exit>;
  /** undefined while it runs */
  exit(): Exit | undefined;
  /** the first log line (already seen or still to come) matching pred; rejects on timeout or exit */
  waitForLog(what: string, pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** sends the signal (default SIGTERM) unless it has exited, and waits for the exit */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit>;
}

export interface StartOptions {
  /** a short name for messages, e.g. `watcher-a` */
  name?: string;
  env?: NodeJS.ProcessEnv;
  /** append the child's stdout and stderr here */
  logFile?: string;
}

const live = new Set<ChildProcess>();
// A parent that dies without stopping its children must not leave them behind.
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** Spawns `node CLI_MAIN subcommand ...args`. */
export function startCli(subcommand: string, args: readonly string[], opts: StartOptions = {}): CliChild {
  const name = opts.name ?? subcommand;
  const child = spawn(process.execPath, [CLI_MAIN, subcommand, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  live.add(child);
  let out: WriteStream | undefined;
  if (opts.logFile) {
    mkdirSync(dirname(opts.logFile), { recursive: true });
    out = createWriteStream(opts.logFile, { flags: 'a' });
    out.on('error', () => {});
  }
  const lines: LogLine[] = [];
  const listeners = new Set<() => void>();
  let stderr = '';
  let exit: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      exit = { code, signal };
      resolve(exit);
      for (const l of listeners) l();
    });
    child.once('error', (err) => {
      live.delete(child);
      stderr += `${err.message}\n`;
      exit = { code: 127, signal: null };
      resolve(exit);
      for (const l of listeners) l();
    });
  });
  exited.finally(() => out?.end());
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out?.write(d);
    const parts = (partial + d).split('\n');
    partial = parts.pop()!;
    for (const raw of parts) {
      if (raw.trim() === '') continue;
      let rec: LogLine;
      try {
        rec = JSON.parse(raw) as LogLine;
      } catch {
        rec = { msg: raw };
      }
      lines.push(rec);
    }
    for (const l of listeners) l();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    out?.write(d);
    stderr += d;
    if (stderr.length > 64 * 1024) stderr = stderr.slice(-32 * 1024);
  });

  const self: CliChild = {
    name,
    pid: child.pid ?? -1,
    logs: () => lines,
    stderr: () => stderr,
    exited,
    exit: () => exit,
    waitForLog(what, pred, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        let seen = 0;
        const check = () => {
          for (; seen < lines.length; seen++) {
            if (pred(lines[seen]!)) {
              done();
              resolve(lines[seen]!);
              return;
            }
          }
          if (exit) {
            done();
            reject(new Error(`${name} exited (${exit.code ?? exit.signal}) before ${what}: ${lastWords(self)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${name}: ${what}; last lines: ${lastWords(self)}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM', timeoutMs = 30_000) {
      if (!exit) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  return self;
}

/** The child's last few log messages and stderr, for an error message. */
export function lastWords(c: Pick<CliChild, 'logs' | 'stderr'>, n = 5): string {
  const msgs = c.logs().slice(-n).map((l) => (l['err'] ? `${l.msg}: ${String(l['err'])}` : String(l.msg)));
  const err = c.stderr().trim().split('\n').slice(-2).join(' | ');
  return [...msgs, ...(err ? [`stderr: ${err}`] : [])].join(' / ') || '(nothing)';
}

/** GET http://127.0.0.1:port/path, with status and body. */
export function httpGet(port: number, path: string, timeoutMs = 5_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

/** Polls until fn returns a value other than undefined/null/false; rejects after timeoutMs naming `what`. */
export async function poll<T>(what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 30_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `; last error: ${(lastError as Error).message.split('\n')[0]}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
