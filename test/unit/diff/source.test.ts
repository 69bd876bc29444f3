// The repo side of `kube-latch diff` on real local git repositories: a work tree read as it is, a
// shallow clone of a branch (local path or file:// URL), broken YAML reported not fatal, errors as
// GitError, and the temp clone removed on close (and on failure).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { openRepoSource, validBranch } from '../../../src/diff/source.ts';
import { GitError } from '../../../src/git/exec.ts';

const root = mkdtempSync(join(tmpdir(), 'kube-latch-diff-src-'));
const repo = join(root, 'gitops');
const env = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' };
const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, env, encoding: 'utf8' }).trim();

const deployment = (name: string, replicas: number) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: prod
spec:
  replicas: ${replicas}
`;

/** the temp clones left behind (each test's clones go under root/clones) */
const cloneDir = join(root, 'clones');
function clones(): string[] {
  return readdirSync(cloneDir);
}
const tempDir = cloneDir;

let tipMain = '';
before(() => {
  mkdirSync(cloneDir);
  mkdirSync(join(repo, 'deploy'), { recursive: true });
  mkdirSync(join(repo, 'other'), { recursive: true });
  git('init', '-q', '-b', 'main');
  writeFileSync(join(repo, 'deploy/web.yaml'), deployment('web', 20));
  writeFileSync(join(repo, 'deploy/broken.yaml'), 'kind: Deployment\nmetadata: {name: x\n  bad: [\n');
  writeFileSync(join(repo, 'other/web.yaml'), deployment('web', 5));
  git('add', '-A');
  git('commit', '-q', '-m', 'one');
  git('commit', '-q', '--allow-empty', '-m', 'two (so that a shallow clone has something to leave out)');
  tipMain = git('rev-parse', 'HEAD');
  git('checkout', '-q', '-b', 'staging');
  writeFileSync(join(repo, 'deploy/web.yaml'), deployment('web', 50));
  git('commit', '-q', '-am', 'staging scales up');
  git('checkout', '-q', 'main');
  // an uncommitted edit in the work tree
  writeFileSync(join(repo, 'deploy/web.yaml'), deployment('web', 30));
});
after(() => rmSync(root, { recursive: true, force: true }));

const ref = { namespace: 'prod', kind: 'Deployment', name: 'web' };

describe('openRepoSource', () => {
  it('a local directory without --branch is read as it is: uncommitted edits included, nothing cloned', async () => {
    const before = clones().length;
    const s = await openRepoSource({ repo, paths: ['deploy'], tempDir });
    try {
      assert.equal(clones().length, before);
      assert.equal(s.branch, null);
      assert.equal(s.revision, tipMain);
      assert.equal(s.repo, repo);
      const loc = s.index.locate(ref);
      assert.equal(loc.state, 'located');
      assert.equal(loc.state === 'located' && loc.value, 30);
      assert.deepEqual(s.index.brokenFiles.map((b) => b.file), ['deploy/broken.yaml']);
      assert.match(s.index.brokenFiles[0]!.error, /^line \d+:\d+ /);
    } finally {
      await s.close();
    }
  });

  it('--path limits discovery: the whole tree makes web ambiguous', async () => {
    const s = await openRepoSource({ repo });
    try {
      assert.deepEqual(s.paths, ['.']);
      const loc = s.index.locate(ref);
      assert.equal(loc.state, 'ambiguous');
      assert.deepEqual(loc.state === 'ambiguous' ? loc.candidates : [], ['deploy/web.yaml:7', 'other/web.yaml:7']);
    } finally {
      await s.close();
    }
  });

  it('a local directory with --branch is a shallow clone of that branch, removed on close', async () => {
    const s = await openRepoSource({ repo, branch: 'staging', paths: ['deploy'], tempDir });
    const tmp = s.index.workTree;
    assert.ok(existsSync(tmp));
    assert.equal(clones().length, 1);
    assert.ok(tmp.startsWith(cloneDir + '/'));
    assert.equal(s.branch, 'staging');
    assert.equal(s.revision, git('rev-parse', 'staging'));
    const loc = s.index.locate(ref);
    assert.equal(loc.state === 'located' && loc.value, 50);
    assert.equal(execFileSync('git', ['rev-list', '--count', 'HEAD'], { cwd: tmp, env, encoding: 'utf8' }).trim(), '1', 'depth 1');
    await s.close();
    assert.equal(existsSync(tmp), false);
    assert.deepEqual(clones(), []);
    await s.close(); // twice is fine
  });

  it('a file:// URL without --branch clones the default branch (committed content only)', async () => {
    const s = await openRepoSource({ repo: pathToFileURL(repo).href, paths: ['deploy'], tempDir });
    try {
      assert.equal(clones().length, 1);
      assert.equal(s.branch, 'main');
      assert.equal(s.revision, tipMain);
      const loc = s.index.locate(ref);
      assert.equal(loc.state === 'located' && loc.value, 20);
    } finally {
      await s.close();
    }
  });

  it('a branch that does not exist is a one-line GitError, and no temp dir is left', async () => {
    const before = clones().length;
    await assert.rejects(openRepoSource({ repo: pathToFileURL(repo).href, branch: 'nope', tempDir }), (e: unknown) => {
      assert.ok(e instanceof GitError);
      assert.match(e.message, /^clone: branch nope does not exist on file:\/\//);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
    assert.equal(clones().length, before);
  });

  it('an unreachable remote is a GitError (unreachable), no temp dir left', async () => {
    const before = clones().length;
    await assert.rejects(openRepoSource({ repo: pathToFileURL(join(root, 'missing')).href, tempDir }), (e: unknown) => e instanceof GitError && e.kind === 'unreachable');
    assert.equal(clones().length, before);
  });

  it('not a URL and not a directory → GitError config', async () => {
    await assert.rejects(openRepoSource({ repo: 'not a repo' }), (e: unknown) => e instanceof GitError && e.kind === 'config');
    await assert.rejects(openRepoSource({ repo: 'http://example.invalid/x.git' }), /plain http is refused/);
  });

  it('an invalid --branch or --path is refused before anything runs', async () => {
    await assert.rejects(openRepoSource({ repo, branch: '--upload-pack=x' }), /not a valid branch name/);
    await assert.rejects(openRepoSource({ repo, paths: ['../etc'] }), /must be relative to the repository root/);
  });

  it('a plain directory of manifests (no git) works, revision null', async () => {
    const plain = join(root, 'plain');
    mkdirSync(plain);
    writeFileSync(join(plain, 'web.yaml'), deployment('web', 7));
    const s = await openRepoSource({ repo: plain });
    try {
      assert.equal(s.revision, null);
      const loc = s.index.locate(ref);
      assert.equal(loc.state === 'located' && loc.value, 7);
    } finally {
      await s.close();
    }
  });

  it('validBranch', () => {
    for (const b of ['main', 'release/1.2', 'feature_x-y']) assert.ok(validBranch(b), b);
    for (const b of ['-x', 'a..b', 'a b', 'a/', 'x.lock', '']) assert.ok(!validBranch(b), b);
  });
});
