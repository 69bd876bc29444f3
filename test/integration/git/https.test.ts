// HTTPS with a token against `git http-backend` behind a local https server that answers 401 without
// the right Authorization header. The token never appears in git's argv, a log line or an error, and a
// remote that goes down fails retryably and takes the latch when it comes back.
import assert from 'node:assert/strict';
import { access, chmod, constants, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { GitError } from '../../../src/git/exec.ts';
import { GitRepo, type GitRepoOptions } from '../../../src/git/repo.ts';
import { startGitHttp, type GitHttpServer } from './helpers/git-http.ts';
import { log, makeRemote, otherWriterCommit, showFile, tmpDir } from './helpers/repos.ts';
import { makeTls } from './helpers/tls.ts';

const TOKEN = 'glpat-S3cr3tT0k3n-do-not-leak';
const WRONG = 'ghp_WrongButAlsoSecret123';
const WEB = 'kind: Deployment\nmetadata:\n  name: web\n  namespace: prod\nspec:\n  replicas: 20\n';
const latch = (value: number, declared: number) => ({ type: 'replicas' as const, ref: { namespace: 'prod', kind: 'Deployment', name: 'web' }, value, declared });

describe('https remote with a token, behind git http-backend', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let server: GitHttpServer;
  let bare: string;
  let caFile: string;
  let tokenFile: string;
  let argvLog: string;
  const logs: string[] = [];
  const errors: string[] = [];
  const savedPath = process.env['PATH'];

  before(async () => {
    ({ dir: root, cleanup } = await tmpDir('kl-https-'));
    await mkdir(join(root, 'projects'));
    bare = await makeRemote(join(root, 'projects'), { 'apps/web.yaml': WEB });
    const tls = makeTls();
    caFile = join(root, 'ca.pem');
    await writeFile(caFile, tls.ca);
    tokenFile = join(root, 'token');
    await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    server = await startGitHttp(join(root, 'projects'), TOKEN, tls);
    // A git shim that records every argv, to prove the token is never on a command line.
    const realGit = await which('git');
    argvLog = join(root, 'argv.log');
    await mkdir(join(root, 'bin'));
    await writeFile(join(root, 'bin', 'git'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${argvLog}'\nexec '${realGit}' "$@"\n`);
    await chmod(join(root, 'bin', 'git'), 0o755);
    process.env['PATH'] = `${join(root, 'bin')}:${savedPath}`;
  });
  after(async () => {
    process.env['PATH'] = savedPath;
    await server.stop();
    await cleanup();
  });

  const logger = pino({ level: 'debug' }, new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) }));
  const open = (workDir: string, extra: Partial<GitRepoOptions> = {}) =>
    GitRepo.open({
      url: `${server.origin}/remote.git`,
      workDir: join(root, workDir),
      author: 'Latch Bot <bot@example.com>',
      auth: { tokenFile, caFile },
      logger,
      retry: { baseDelayMs: 5, maxDelayMs: 20 },
      ...extra,
    });

  it('pushes with the token sent as a Basic Authorization header, through a push race', async () => {
    const repo = await open('w1', {
      beforePush: async (attempt) => {
        if (attempt === 1) await otherWriterCommit(bare, { 'NOTES.md': 'x\n' }, 'a human edit');
      },
    });
    const res = await repo.commitAndPush([latch(50, 20)]);
    assert.equal(res.status, 'pushed');
    assert.equal(res.attempts, 2);
    assert.match(await showFile(bare, 'main', 'apps/web.yaml'), /replicas: 50/);
    assert.deepEqual((await log(bare)).map((e) => e.subject), ['kube-latch: prod/Deployment/web replicas 20 → 50', 'a human edit', 'seed']);
    const expected = `Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`;
    assert.ok(server.authHeaders.length > 0);
    assert.ok(server.authHeaders.every((h) => h === expected), 'the header is sent up front, never a 401 round trip');
    assert.ok(server.urls.every((u) => !u.includes(TOKEN)));
  });

  it('a wrong token is an auth error that names neither token', async () => {
    await writeFile(tokenFile, WRONG);
    try {
      await assert.rejects(open('w2'), (e: unknown) => {
        assert.ok(e instanceof GitError);
        assert.equal(e.kind, 'auth');
        errors.push(e.message);
        return true;
      });
      assert.ok(server.unauthorized > 0);
    } finally {
      await writeFile(tokenFile, TOKEN);
    }
  });

  it('a remote that is down: a retryable error, and the latch lands when it returns', async () => {
    const repo = await open('w3');
    await server.stop();
    try {
      await assert.rejects(repo.commitAndPush([latch(100, 50)]), (e: unknown) => {
        assert.ok(e instanceof GitError);
        assert.equal(e.kind, 'unreachable');
        assert.equal(e.retryable, true);
        errors.push(e.message);
        return true;
      });
    } finally {
      await server.start();
    }
    const res = await repo.commitAndPush([latch(100, 50)]);
    assert.equal(res.status, 'pushed');
    assert.match(await showFile(bare, 'main', 'apps/web.yaml'), /replicas: 100/);
  });

  it('the token is in no argv, log line or error message', async () => {
    const argv = await readFile(argvLog, 'utf8');
    assert.ok(argv.includes('push'), 'the shim saw the git commands');
    const b64 = (t: string) => Buffer.from(`x-access-token:${t}`).toString('base64');
    for (const secret of [TOKEN, WRONG, b64(TOKEN), b64(WRONG)]) {
      assert.ok(!argv.includes(secret), 'argv');
      for (const l of logs) assert.ok(!l.includes(secret), `log line: ${l}`);
      for (const e of errors) assert.ok(!e.includes(secret), `error: ${e}`);
    }
    assert.ok(logs.some((l) => l.includes('non-fast-forward')), 'the race was logged');
    assert.equal(errors.length, 2);
    assert.match(errors[0]!, /^fetch: authentication failed: /);
    assert.match(errors[1]!, /^fetch: remote unreachable: .*Failed to connect/);
  });
});

async function which(cmd: string): Promise<string> {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    try {
      await access(join(dir, cmd), constants.X_OK);
      return join(dir, cmd);
    } catch {
      // next
    }
  }
  throw new Error(`${cmd} not found on PATH`);
}
