// The git side of `kube-latch diff`: the watcher's own RepoIndex, over either a local work tree read as it
// is (uncommitted edits included), or a shallow single-branch clone into a temp dir that close() removes.
// Cloning goes through src/git's auth environment and error classes, so a token never reaches argv, a
// URL that is printed or an error line, and ssh host keys are checked strictly.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { classify, GitError, runGit } from '../git/exec.ts';
import { makeScrubber, parseRemote, prepareEnv, type GitAuth } from '../git/auth.ts';
import { RepoIndex } from '../git/repo-index.ts';

export interface RepoSourceOptions {
  /** a local directory, or a git URL (file://, ssh://, user@host:path, https://) */
  readonly repo: string;
  /** clone this branch; for a local directory it means "that branch of the repository there" */
  readonly branch?: string | undefined;
  /** scan roots, repo-relative; default the whole tree */
  readonly paths?: readonly string[];
  readonly auth?: GitAuth;
  /** per git command, default 120 s */
  readonly timeoutMs?: number;
  /** commits of history to clone, default 1 (status reads the last latch commits) */
  readonly depth?: number;
  /** where the temp clone goes, default os.tmpdir() */
  readonly tempDir?: string;
}

export interface RepoSource {
  readonly index: RepoIndex;
  /** printable (password redacted) */
  readonly repo: string;
  /** the branch cloned; null when a local work tree is read as it is */
  readonly branch: string | null;
  /** HEAD of what was indexed; null for a directory outside git */
  readonly revision: string | null;
  readonly paths: readonly string[];
  /** removes the temp clone, if any; safe to call twice */
  close(): Promise<void>;
}

export function validBranch(b: string): boolean {
  return /^[A-Za-z0-9._/-]+$/.test(b) && !b.startsWith('-') && !b.includes('..') && !b.endsWith('/') && !b.endsWith('.lock');
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

export async function openRepoSource(o: RepoSourceOptions): Promise<RepoSource> {
  const paths = o.paths && o.paths.length ? [...o.paths] : ['.'];
  if (o.branch !== undefined && !validBranch(o.branch)) throw new GitError('config', `--branch "${o.branch}" is not a valid branch name`);
  const local = (await isDirectory(o.repo)) ? resolve(o.repo) : undefined;

  if (local && o.branch === undefined) {
    const index = await RepoIndex.build(local, paths);
    return { index, repo: local, branch: null, revision: await headOf(local), paths, close: async () => {} };
  }

  // A local repository with --branch is cloned through file:// so that --depth applies.
  const url = local ? pathToFileURL(local).href : o.repo;
  const remote = parseRemote(url);
  const tmp = await mkdtemp(join(o.tempDir ?? tmpdir(), 'kube-latch-diff-'));
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await rm(tmp, { recursive: true, force: true });
  };
  try {
    const work = join(tmp, 'repo');
    const { env, secrets } = await prepareEnv(remote, o.auth ?? {}, join(tmp, 'state'));
    const args = ['clone', '-q', '--depth', String(o.depth ?? 1), '--single-branch', '--no-tags', ...(o.branch ? ['--branch', o.branch] : []), '--', remote.url, work];
    const r = await runGit(args, { cwd: tmp, env, scrub: makeScrubber(secrets), ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}) });
    if (r.code !== 0) {
      if (/Remote branch \S+ not found/i.test(r.stderr)) throw new GitError('config', `clone: branch ${o.branch} does not exist on ${remote.printable}`);
      throw classify(`clone ${remote.printable}`, r, o.auth?.knownHosts ? { host: remote.host, knownHosts: o.auth.knownHosts } : { host: remote.host });
    }
    const branch = o.branch ?? (await currentBranch(work)) ?? 'HEAD';
    const index = await RepoIndex.build(work, paths);
    return { index, repo: local ?? remote.printable, branch, revision: await headOf(work), paths, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A read-only git command in a checkout, with the user's git config and GIT_* environment left out; null on failure. */
export async function git(cwd: string, args: string[]): Promise<string | null> {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
  for (const k of Object.keys(env)) if (k.startsWith('GIT_') && !['GIT_TERMINAL_PROMPT', 'GIT_CONFIG_NOSYSTEM', 'GIT_CONFIG_GLOBAL'].includes(k)) delete env[k];
  try {
    const r = await runGit(args, { cwd, env, scrub: (s) => s, timeoutMs: 30_000 });
    return r.code === 0 ? r.stdout.trim() : null;
  } catch {
    return null; // git not installed: a plain directory still works
  }
}

/** HEAD's commit, or null outside a git work tree (a plain directory of manifests works too). */
async function headOf(dir: string): Promise<string | null> {
  // safe.directory: a checkout owned by another uid (a CI volume) must not stop a read-only rev-parse.
  return git(dir, ['-c', 'safe.directory=*', 'rev-parse', '-q', '--verify', 'HEAD']);
}

async function currentBranch(dir: string): Promise<string | null> {
  return git(dir, ['symbolic-ref', '-q', '--short', 'HEAD']);
}
