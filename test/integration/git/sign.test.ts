// Signed commits: ssh signing (the key copied to a 0600 file) and gpg signing, each checked with
// `git verify-commit`; an unsigned commit fails the same check.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { GitRepo } from '../../../src/git/repo.ts';
import { gitEnv, log, makeRemote, tmpDir } from './helpers/repos.ts';
import { keygen } from './helpers/sshd.ts';

const exec = promisify(execFile);
const WEB = 'kind: Deployment\nmetadata:\n  name: web\n  namespace: prod\nspec:\n  replicas: 20\n';
const latch = { type: 'replicas' as const, ref: { namespace: 'prod', kind: 'Deployment', name: 'web' }, value: 50, declared: 20 };

async function verify(bare: string, sha: string, config: string[], env: NodeJS.ProcessEnv = {}): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await exec('git', [...config.flatMap((c) => ['-c', c]), 'verify-commit', '-v', sha], { cwd: bare, env: { ...gitEnv(), ...env } });
    return { ok: true, out: r.stdout + r.stderr };
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string };
    return { ok: false, out: (x.stdout ?? '') + (x.stderr ?? '') };
  }
}

describe('signed commits', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  const gnupgHomes: string[] = [];
  before(async () => {
    ({ dir: root, cleanup } = await tmpDir('kl-sign-'));
  });
  after(async () => {
    for (const h of gnupgHomes) await exec('gpgconf', ['--homedir', h, '--kill', 'gpg-agent']).catch(() => undefined);
    await cleanup();
  });

  it('ssh: the pushed commit passes git verify-commit against an allowed-signers file', async () => {
    const bare = await makeRemote(join(root, 'ssh'), { 'apps/web.yaml': WEB });
    const pub = await keygen(join(root, 'signing'), 'bot@example.com');
    const allowed = join(root, 'allowed_signers');
    await writeFile(allowed, `bot@example.com namespaces="git" ${pub.split(' ').slice(0, 2).join(' ')}\n`);
    const repo = await GitRepo.open({ url: `file://${bare}`, workDir: join(root, 'w-ssh'), author: 'Latch Bot <bot@example.com>', sign: { format: 'ssh', keyFile: join(root, 'signing') } });
    const res = await repo.commitAndPush([latch]);
    assert.equal(res.status, 'pushed');
    const cfg = [`gpg.ssh.allowedSignersFile=${allowed}`];
    const good = await verify(bare, res.commit!, cfg);
    assert.ok(good.ok, good.out);
    assert.match(good.out, /Good "git" signature for bot@example.com/);
    const seed = (await log(bare)).at(-1)!.sha;
    assert.equal((await verify(bare, seed, cfg)).ok, false, 'the unsigned seed commit fails');
  });

  it('gpg: the pushed commit passes git verify-commit with the public key', async () => {
    const bare = await makeRemote(join(root, 'gpg'), { 'apps/web.yaml': WEB });
    const maker = join(root, 'gnupg-maker');
    const verifier = join(root, 'gnupg-verifier');
    await mkdir(maker, { mode: 0o700 });
    await mkdir(verifier, { mode: 0o700 });
    gnupgHomes.push(maker, verifier, join(root, 'w-gpg', 'state', 'gnupg'));
    const gpg = (home: string, ...args: string[]) => exec('gpg', ['--batch', '--homedir', home, ...args], { maxBuffer: 1 << 20 });
    await gpg(maker, '--passphrase', '', '--quick-gen-key', 'Latch Bot <bot@example.com>', 'ed25519', 'sign', 'never');
    const secret = (await gpg(maker, '--armor', '--export-secret-keys', 'bot@example.com')).stdout;
    const pubKey = (await gpg(maker, '--armor', '--export', 'bot@example.com')).stdout;
    await writeFile(join(root, 'gpg-secret.asc'), secret, { mode: 0o600 });
    await writeFile(join(root, 'gpg-public.asc'), pubKey);
    await gpg(verifier, '--import', join(root, 'gpg-public.asc'));

    const repo = await GitRepo.open({ url: `file://${bare}`, workDir: join(root, 'w-gpg'), author: 'Latch Bot <bot@example.com>', sign: { format: 'gpg', keyFile: join(root, 'gpg-secret.asc') } });
    try {
      const res = await repo.commitAndPush([latch]);
      assert.equal(res.status, 'pushed');
      const good = await verify(bare, res.commit!, [], { GNUPGHOME: verifier });
      assert.ok(good.ok, good.out);
      assert.match(good.out, /Good signature from "Latch Bot <bot@example.com>"/);
    } finally {
      await repo.close();
    }
  });

  it('an unreadable signing key is a clear config error', async () => {
    const bare = await makeRemote(join(root, 'bad'), { 'apps/web.yaml': WEB });
    await assert.rejects(
      GitRepo.open({ url: `file://${bare}`, workDir: join(root, 'w-bad'), sign: { format: 'ssh', keyFile: join(root, 'missing-key') } }),
      /--signing-key .*missing-key: cannot read \(ENOENT\)/,
    );
  });
});
