// SSH against a real sshd on a loopback port: a key plus strict known_hosts pushes; a wrong or unknown
// host key is refused with a clear one-line error; a key the server does not accept is an auth error.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GitError } from '../../../src/git/exec.ts';
import { GitRepo } from '../../../src/git/repo.ts';
import { log, makeRemote, showFile, tmpDir } from './helpers/repos.ts';
import { keygen, startSshd, type Sshd } from './helpers/sshd.ts';

const WEB = 'kind: Deployment\nmetadata:\n  name: web\n  namespace: prod\nspec:\n  replicas: 20\n';

describe('ssh remote against a real sshd', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let sshd: Sshd;
  let bare: string;
  let url: string;
  let goodKnownHosts: string;
  const opened: GitRepo[] = [];

  before(async () => {
    ({ dir: root, cleanup } = await tmpDir('kl-ssh-'));
    sshd = await startSshd(join(root, 'sshd'));
    bare = await makeRemote(root, { 'apps/web.yaml': WEB });
    url = `ssh://${sshd.user}@127.0.0.1:${sshd.port}${bare}`;
    goodKnownHosts = join(root, 'known_hosts');
    await writeFile(goodKnownHosts, sshd.knownHosts);
  });
  after(async () => {
    for (const r of opened) await r.close();
    await sshd.stop();
    await cleanup();
  });

  const open = async (workDir: string, knownHosts: string, sshKey = sshd.clientKey) => {
    const r = await GitRepo.open({ url, workDir: join(root, workDir), author: 'Latch Bot <bot@example.com>', auth: { sshKey, knownHosts } });
    opened.push(r);
    return r;
  };

  it('clones, commits and pushes with the key and strict known_hosts', async () => {
    const repo = await open('w-ok', goodKnownHosts);
    const res = await repo.commitAndPush([{ type: 'replicas', ref: { namespace: 'prod', kind: 'Deployment', name: 'web' }, value: 50, declared: 20 }]);
    assert.equal(res.status, 'pushed');
    assert.equal((await log(bare))[0]!.subject, 'kube-latch: prod/Deployment/web replicas 20 → 50');
    assert.match(await showFile(bare, 'main', 'apps/web.yaml'), /replicas: 50/);
    assert.match(sshd.log(), /Accepted publickey/);
  });

  it('refuses a server whose host key does not match known_hosts', async () => {
    const otherPub = await keygen(join(root, 'impostor'), 'impostor');
    const wrong = join(root, 'known_hosts.wrong');
    await writeFile(wrong, `[127.0.0.1]:${sshd.port} ${otherPub.split(' ').slice(0, 2).join(' ')}\n`);
    await assert.rejects(open('w-wrong', wrong), (e: unknown) => {
      assert.ok(e instanceof GitError);
      assert.equal(e.kind, 'host-key');
      assert.equal(e.retryable, false);
      assert.equal(e.message, `fetch: refused: the ssh host key of 127.0.0.1:${sshd.port} does not match the key listed in ${wrong} (strict host key checking)`);
      return true;
    });
  });

  it('refuses a server that is not in known_hosts (never trust on first use)', async () => {
    const empty = join(root, 'known_hosts.empty');
    await writeFile(empty, '');
    await assert.rejects(open('w-unknown', empty), (e: unknown) => e instanceof GitError && e.kind === 'host-key' && /is not listed in/.test(e.message));
  });

  it('a key the server does not accept is an auth error', async () => {
    await keygen(join(root, 'stranger'), 'stranger');
    await assert.rejects(open('w-stranger', goodKnownHosts, join(root, 'stranger')), (e: unknown) => e instanceof GitError && e.kind === 'auth' && !e.message.includes('\n'));
  });
});
