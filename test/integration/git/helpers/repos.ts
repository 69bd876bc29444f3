// Local git remotes for integration tests: bare repos in a temp dir, another writer, and readers.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  return {
    ...env,
    LC_ALL: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'Other Writer',
    GIT_AUTHOR_EMAIL: 'other@example.com',
    GIT_COMMITTER_NAME: 'Other Writer',
    GIT_COMMITTER_EMAIL: 'other@example.com',
  };
}

export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await exec('git', args, { cwd, env: gitEnv(), maxBuffer: 64 << 20 });
  return stdout;
}

export async function tmpDir(prefix = 'kl-git-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function writeFiles(root: string, files: Record<string, string>): Promise<void> {
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await writeFile(join(root, rel), text);
  }
}

/** A bare repo at `${root}/remote.git` whose `branch` holds `files` in one commit. */
export async function makeRemote(root: string, files: Record<string, string>, branch = 'main'): Promise<string> {
  const bare = join(root, 'remote.git');
  await exec('git', ['init', '-q', '--bare', `--initial-branch=${branch}`, bare], { env: gitEnv() });
  const seed = join(root, 'seed');
  await exec('git', ['init', '-q', `--initial-branch=${branch}`, seed], { env: gitEnv() });
  await writeFiles(seed, files);
  await git(seed, 'add', '-A');
  await git(seed, 'commit', '-q', '-m', 'seed');
  await git(seed, 'push', '-q', bare, `HEAD:refs/heads/${branch}`);
  await rm(seed, { recursive: true, force: true });
  return bare;
}

/** Another writer: clones, writes files, commits and pushes (no retry: the caller sequences it). */
export async function otherWriterCommit(bare: string, files: Record<string, string>, message: string, branch = 'main'): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), 'kl-other-'));
  try {
    await git(work, 'clone', '-q', '--branch', branch, bare, 'w');
    const w = join(work, 'w');
    await writeFiles(w, files);
    await git(w, 'add', '-A');
    await git(w, 'commit', '-q', '-m', message);
    await git(w, 'push', '-q', 'origin', `HEAD:refs/heads/${branch}`);
    return (await git(w, 'rev-parse', 'HEAD')).trim();
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export async function showFile(bare: string, ref: string, path: string): Promise<string> {
  return git(bare, 'show', `${ref}:${path}`);
}

export interface LogEntry {
  sha: string;
  author: string;
  subject: string;
  body: string;
}

export async function log(bare: string, ref = 'main'): Promise<LogEntry[]> {
  const out = await git(bare, 'log', '--format=%H%x1f%an <%ae>%x1f%s%x1f%b%x1e', ref);
  return out
    .split('\x1e')
    .map((r) => r.trim())
    .filter((r) => r !== '')
    .map((r) => {
      const [sha, author, subject, body] = r.split('\x1f');
      return { sha: sha!, author: author!, subject: subject!, body: (body ?? '').trim() };
    });
}
