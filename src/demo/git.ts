// Plain git for the demo and the e2e suites: a bare remote seeded with files (what a GitOps repo
// would be), a reader of its log, and a clone to apply from. Runs without any user or system git config.
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface Committer {
  readonly name: string;
  readonly email: string;
}

const HUMAN: Committer = { name: 'Demo Developer', email: 'dev@example.invalid' };

function gitEnv(who: Committer): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  return {
    ...env,
    LC_ALL: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: who.name,
    GIT_AUTHOR_EMAIL: who.email,
    GIT_COMMITTER_NAME: who.name,
    GIT_COMMITTER_EMAIL: who.email,
  };
}

/** Runs git in cwd; rejects with git's stderr on failure. */
export function git(cwd: string, args: readonly string[], who: Committer = HUMAN): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', [...args], { cwd, env: gitEnv(who), maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`git ${args.join(' ')}: ${stderr.trim().split('\n').pop() ?? err.message}`));
      else resolve(stdout);
    });
  });
}

export async function writeFiles(root: string, files: Readonly<Record<string, string>>): Promise<void> {
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await writeFile(join(root, rel), text);
  }
}

export interface Remote {
  /** the bare repository's directory */
  readonly dir: string;
  /** file:// URL of it, as --repo takes it */
  readonly url: string;
  readonly branch: string;
}

/** `git init --bare` at `dir`, and one commit on `branch` holding `files`. */
export async function createRemote(dir: string, files: Readonly<Record<string, string>>, o: { branch?: string; message?: string; author?: Committer } = {}): Promise<Remote> {
  const branch = o.branch ?? 'main';
  await mkdir(dir, { recursive: true });
  await git(dir, ['init', '-q', '--bare', `--initial-branch=${branch}`]);
  const seed = `${dir}.seed`;
  await mkdir(seed, { recursive: true });
  try {
    await git(seed, ['init', '-q', `--initial-branch=${branch}`]);
    await writeFiles(seed, files);
    await git(seed, ['add', '-A']);
    await git(seed, ['commit', '-q', '-m', o.message ?? 'Add the app manifests'], o.author ?? HUMAN);
    await git(seed, ['push', '-q', dir, `HEAD:refs/heads/${branch}`]);
  } finally {
    await rm(seed, { recursive: true, force: true });
  }
  return { dir, url: pathToFileURL(dir).href, branch };
}

export interface Commit {
  readonly sha: string;
  readonly author: string;
  readonly email: string;
  readonly subject: string;
  readonly body: string;
}

/** The branch's commits, newest first. */
export async function commits(remote: Pick<Remote, 'dir' | 'branch'>, max = 50): Promise<Commit[]> {
  const out = await git(remote.dir, ['log', `-${max}`, '--format=%H%x1f%an%x1f%ae%x1f%s%x1f%b%x1e', remote.branch]);
  return out
    .split('\x1e')
    .map((r) => r.replace(/^\n/, ''))
    .filter((r) => r !== '')
    .map((r) => {
      const [sha, author, email, subject, body] = r.split('\x1f');
      return { sha: sha!, author: author!, email: email!, subject: subject!, body: (body ?? '').trim() };
    });
}

/** The branch's tip. */
export async function head(remote: Pick<Remote, 'dir' | 'branch'>): Promise<string> {
  return (await git(remote.dir, ['rev-parse', remote.branch])).trim();
}

/** A file as the branch holds it. */
export function show(remote: Pick<Remote, 'dir' | 'branch'>, path: string, ref = remote.branch): Promise<string> {
  return git(remote.dir, ['show', `${ref}:${path}`]);
}

/** A commit on top of the branch, as another writer (a human) would push it. */
export async function pushFiles(remote: Remote, files: Readonly<Record<string, string>>, message: string, who: Committer = HUMAN): Promise<string> {
  const work = `${remote.dir}.writer-${process.pid}-${Date.now()}`;
  try {
    await git(dirname(work), ['clone', '-q', '--branch', remote.branch, remote.dir, work]);
    await writeFiles(work, files);
    await git(work, ['add', '-A']);
    await git(work, ['commit', '-q', '-m', message], who);
    await git(work, ['push', '-q', 'origin', `HEAD:refs/heads/${remote.branch}`]);
    return (await git(work, ['rev-parse', 'HEAD'])).trim();
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
