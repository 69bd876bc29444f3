// Runs the git CLI: argv only (execFile-style spawn, never a shell string), a prepared environment, a
// timeout that kills git and its ssh child (own process group), and output scrubbed of secrets.
import { spawn } from 'node:child_process';

export interface RunOptions {
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** removes secrets from any text that leaves this module */
  readonly scrub: (s: string) => string;
  readonly input?: string;
  /** default 120 s; network operations are bounded by it */
  readonly timeoutMs?: number;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

export type GitErrorKind =
  /** the remote cannot be reached now (network, DNS, a remote that is down): retry later */
  | 'unreachable'
  /** credentials refused: needs an operator, but retrying later is harmless */
  | 'auth'
  /** the ssh host key is unknown or does not match --known-hosts: refused, needs an operator */
  | 'host-key'
  /** the remote refused the push for another reason than a race (a hook, branch protection) */
  | 'rejected'
  /** non-fast-forward retries ran out: retry later */
  | 'conflict'
  /** bad configuration (URL, author, key files) */
  | 'config'
  | 'git';

/** A git failure with a one-line, secret-free message. `retryable` means "try again later as is". */
export class GitError extends Error {
  override name = 'GitError';
  readonly kind: GitErrorKind;
  readonly retryable: boolean;
  constructor(kind: GitErrorKind, message: string) {
    super(message);
    this.kind = kind;
    this.retryable = kind === 'unreachable' || kind === 'conflict' || kind === 'git';
  }
}

export function runGit(args: readonly string[], o: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd: o.cwd, env: o.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, o.timeoutMs ?? 120_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new GitError('config', `cannot run git: ${o.scrub(e.message)}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: o.scrub(Buffer.concat(out).toString('utf8')),
        stderr: o.scrub(Buffer.concat(err).toString('utf8')),
        timedOut,
      });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(o.input ?? '');
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Turns a failed git run into a GitError: the kind from git's (LC_ALL=C) stderr, the message one line,
 * naming the operation. `hostHint` names the host and known_hosts file for the host-key message.
 */
export function classify(op: string, r: RunResult, hostHint?: { host: string; knownHosts?: string }): GitError {
  const e = stderrTail(r.stderr);
  if (r.timedOut) return new GitError('unreachable', `${op}: timed out`);
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No \S+ host key is known|host key for \S+ has changed/i.test(e)) {
    const where = hostHint?.knownHosts ? ` in ${hostHint.knownHosts}` : ' in known_hosts';
    const host = hostHint?.host ? ` of ${hostHint.host}` : '';
    const what = /No \S+ host key is known/i.test(e) ? 'is not listed' : 'does not match the key listed';
    return new GitError('host-key', `${op}: refused: the ssh host key${host} ${what}${where} (strict host key checking)`);
  }
  if (/Permission denied \(|Authentication failed|could not read (Username|Password)|terminal prompts disabled|HTTP (Basic: Access denied|401|403)|returned error: 40[13]/i.test(e)) {
    return new GitError('auth', `${op}: authentication failed: ${summary(e)}`);
  }
  if (
    /Could not resolve host|Connection refused|Connection timed out|Connection reset|Network is unreachable|No route to host|Could not read from remote repository|does not appear to be a git repository|unable to access|Failed to connect|Connection closed|kex_exchange_identification|early EOF|the remote end hung up|returned error: 5\d\d|Empty reply from server|SSL_ERROR_SYSCALL|Operation timed out/i.test(
      e,
    )
  ) {
    return new GitError('unreachable', `${op}: remote unreachable: ${summary(e)}`);
  }
  return new GitError('git', `${op}: ${summary(e) || `git exited with ${r.code}`}`);
}

/** The most telling line of git's stderr: the last `fatal:`/`error:` line, else the last non-empty one. */
export function summary(stderr: string): string {
  const lines = stderrTail(stderr).split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('hint:'));
  const fatal = lines.filter((l) => /^(fatal|error|remote: error|ERROR):/i.test(l));
  const pick = fatal.length ? fatal.join('; ') : (lines.at(-1) ?? '');
  return pick.length > 300 ? pick.slice(0, 297) + '...' : pick;
}

/**
 * The last STDERR_TAIL characters: git ends with the line that explains a failure, and a remote that
 * floods its `remote:` lines cannot make the regexes above run on more than this.
 */
export const STDERR_TAIL = 8192;

function stderrTail(s: string): string {
  return s.length > STDERR_TAIL ? s.slice(-STDERR_TAIL) : s;
}
