// The environment every git command runs in: no prompts, no system or user git config, C locale (so
// stderr can be classified), strict ssh host keys, and an HTTPS token passed as an extra header through
// GIT_CONFIG_* variables, so that it is never in argv, in a URL, or in a log line.
import { chmod, copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { redactUrl, urlSecrets } from '../redact.ts';
import { GitError } from './exec.ts';

export { redactUrl };

export interface GitAuth {
  /** private key for ssh remotes (copied to a 0600 file: ssh refuses group-readable keys) */
  readonly sshKey?: string | undefined;
  /** known_hosts for ssh remotes; checked strictly, never updated */
  readonly knownHosts?: string | undefined;
  /** file holding an HTTPS token (re-read for every operation, so a rotated Secret is picked up) */
  readonly tokenFile?: string | undefined;
  /** the user name paired with the token in Basic auth: `x-access-token` (GitHub), `oauth2` (GitLab) */
  readonly tokenUser?: string | undefined;
  /** extra CA bundle for an HTTPS remote with a private CA */
  readonly caFile?: string | undefined;
}

export type RemoteKind = 'file' | 'ssh' | 'https';

export interface Remote {
  readonly url: string;
  readonly kind: RemoteKind;
  /** host[:port] for messages; '' for file remotes */
  readonly host: string;
  /** the URL with its credentials redacted (src/redact.ts), safe to print */
  readonly printable: string;
}

/** Longer --repo values are refused before any regex reads them. */
export const MAX_URL_LENGTH = 2048;

/** Parses --repo: file:// or an absolute path, ssh:// or scp-style `user@host:path`, or https://. */
export function parseRemote(url: string): Remote {
  if (url.length > MAX_URL_LENGTH) throw new GitError('config', `--repo is ${url.length} characters long; expected at most ${MAX_URL_LENGTH}`);
  const printable = redactUrl(url);
  if (url.startsWith('/') || url.startsWith('file://')) return { url, kind: 'file', host: '', printable };
  const m = /^([a-z][a-z0-9+.-]*):\/\/(?:[^@/]*@)?([^/?#]+)/i.exec(url);
  if (m) {
    const scheme = m[1]!.toLowerCase();
    if (scheme === 'ssh' || scheme === 'git+ssh') return { url, kind: 'ssh', host: m[2]!, printable };
    if (scheme === 'https') return { url, kind: 'https', host: m[2]!, printable };
    if (scheme === 'http') throw new GitError('config', `--repo ${printable}: plain http is refused, use https://`);
    throw new GitError('config', `--repo ${printable}: unsupported scheme ${scheme} (use file://, ssh://, user@host:path or https://)`);
  }
  const scp = /^(?:[^@/:]+@)?([^/:]+):(?!\/\/)/.exec(url);
  if (scp) return { url, kind: 'ssh', host: scp[1]!, printable };
  throw new GitError('config', `--repo ${printable}: not a git URL (use file://, ssh://, user@host:path or https://)`);
}

/** A function that removes every secret, and every URL's credentials, from a text. */
export function makeScrubber(secrets: readonly string[]): (s: string) => string {
  const list = secrets.filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  return (s: string) => {
    let out = redactUrl(s);
    for (const sec of list) out = out.split(sec).join('[redacted]');
    return out;
  };
}

export interface PreparedEnv {
  readonly env: NodeJS.ProcessEnv;
  readonly secrets: readonly string[];
}

/** Quotes one word for the shell that git runs GIT_SSH_COMMAND with. */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The environment for git against `remote`. `stateDir` is private to this process (keys are copied
 * there). `config` holds extra `key=value` settings that also travel through GIT_CONFIG_* (signing).
 */
export async function prepareEnv(remote: Remote, auth: GitAuth, stateDir: string, config: readonly [string, string][] = []): Promise<PreparedEnv> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('GIT_') || k === 'SSH_ASKPASS') continue;
    env[k] = v;
  }
  Object.assign(env, {
    LC_ALL: 'C',
    LANGUAGE: 'C',
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ALLOW_PROTOCOL: 'file:ssh:https',
  });
  // safe.directory: a work dir on a volume owned by another uid (fsGroup) must not stop git.
  const cfg: [string, string][] = [['credential.helper', ''], ['core.hooksPath', '/dev/null'], ['safe.directory', '*'], ...config];
  // A token written into the URL (https://TOKEN@host) reaches git, which may echo it outside a URL.
  const secrets: string[] = urlSecrets(remote.url);

  const ssh = ['ssh', '-o BatchMode=yes', '-o StrictHostKeyChecking=yes', '-o UpdateHostKeys=no', '-o ConnectTimeout=20'];
  if (auth.knownHosts) ssh.push(`-o UserKnownHostsFile=${shq(auth.knownHosts)}`, '-o GlobalKnownHostsFile=/dev/null');
  if (auth.sshKey && remote.kind === 'ssh') {
    const key = join(stateDir, 'ssh-key');
    await copyPrivate(auth.sshKey, key, '--ssh-key');
    ssh.push(`-i ${shq(key)}`, '-o IdentitiesOnly=yes', '-o IdentityAgent=none');
  }
  env['GIT_SSH_COMMAND'] = ssh.join(' ');

  if (auth.tokenFile && remote.kind === 'https') {
    const token = await readToken(auth.tokenFile);
    const basic = Buffer.from(`${auth.tokenUser ?? 'x-access-token'}:${token}`).toString('base64');
    const origin = new URL(remote.url).origin;
    // Scoped to the remote's origin: a redirect to another host never receives the header.
    cfg.push([`http.${origin}/.extraHeader`, `Authorization: Basic ${basic}`]);
    secrets.push(token, basic);
  }
  if (auth.caFile && remote.kind === 'https') cfg.push(['http.sslCAInfo', auth.caFile]);

  env['GIT_CONFIG_COUNT'] = String(cfg.length);
  cfg.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  return { env, secrets };
}

/** Reads a token file: trimmed, non-empty, one line. The error never contains the content. */
export async function readToken(file: string): Promise<string> {
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch (err) {
    throw new GitError('config', `--token-file ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const token = raw.trim();
  if (token === '') throw new GitError('config', `--token-file ${file} is empty`);
  if (/[\r\n]/.test(token)) throw new GitError('config', `--token-file ${file} must hold one line`);
  return token;
}

/** Copies a private key to a 0600 file in the state dir (Secrets are often mounted 0644). */
export async function copyPrivate(src: string, dst: string, flag: string): Promise<void> {
  try {
    await mkdir(join(dst, '..'), { recursive: true, mode: 0o700 });
    await copyFile(src, dst);
    await chmod(dst, 0o600);
  } catch (err) {
    throw new GitError('config', `${flag} ${src}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}
