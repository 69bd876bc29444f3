// Remote parsing, URL and secret scrubbing, the git environment (strict ssh, token in a header through
// GIT_CONFIG_*), author parsing, error classification, and PR naming helpers.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { makeScrubber, parseRemote, prepareEnv, redactUrl } from '../../../src/git/auth.ts';
import { classify, GitError } from '../../../src/git/exec.ts';
import { clusterBranch, repoSlug } from '../../../src/git/pr/index.ts';
import { parseAuthor } from '../../../src/git/repo.ts';

describe('parseRemote', () => {
  const ok: [string, string, string][] = [
    ['file:///srv/git/r.git', 'file', ''],
    ['/srv/git/r.git', 'file', ''],
    ['ssh://git@github.com/o/r.git', 'ssh', 'github.com'],
    ['ssh://git@127.0.0.1:2222/srv/r.git', 'ssh', '127.0.0.1:2222'],
    ['git@github.com:o/r.git', 'ssh', 'github.com'],
    ['https://github.com/o/r.git', 'https', 'github.com'],
  ];
  for (const [url, kind, host] of ok) {
    it(url, () => {
      const r = parseRemote(url);
      assert.equal(r.kind, kind);
      assert.equal(r.host, host);
    });
  }
  for (const bad of ['http://example.com/r.git', 'git://example.com/r', 'ftp://x/y', 'not a url']) {
    it(`refuses ${bad}`, () => assert.throws(() => parseRemote(bad), (e: unknown) => e instanceof GitError && e.kind === 'config'));
  }
  it('never prints a password', () => {
    assert.equal(parseRemote('https://u:s3cret@example.com/r.git').printable, 'https://u:[redacted]@example.com/r.git');
  });
});

describe('scrubbing', () => {
  it('removes secrets and URL passwords', () => {
    const s = makeScrubber(['tok-123456', 'dG9rLTEyMzQ1Ng==']);
    assert.equal(s('fatal: tok-123456 at https://a:tok-123456@h/x dG9rLTEyMzQ1Ng=='), 'fatal: [redacted] at https://a:[redacted]@h/x [redacted]');
    assert.equal(redactUrl('see ssh://git@host/r'), 'see ssh://git@host/r');
  });
});

describe('prepareEnv', () => {
  it('ssh: strict host keys, the given known_hosts, a 0600 copy of the key, no prompts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kl-auth-'));
    try {
      await writeFile(join(dir, 'id'), 'KEY', { mode: 0o644 });
      const { env } = await prepareEnv(parseRemote('ssh://git@h:22/r'), { sshKey: join(dir, 'id'), knownHosts: '/k h/known' }, join(dir, 'state'));
      const cmd = env['GIT_SSH_COMMAND']!;
      assert.match(cmd, /-o StrictHostKeyChecking=yes/);
      assert.doesNotMatch(cmd, /StrictHostKeyChecking=(no|accept-new)/);
      assert.match(cmd, /-o UserKnownHostsFile='\/k h\/known'/);
      assert.match(cmd, /-o IdentitiesOnly=yes/);
      assert.match(cmd, new RegExp(`-i '${join(dir, 'state', 'ssh-key')}'`));
      assert.equal((await stat(join(dir, 'state', 'ssh-key'))).mode & 0o777, 0o600);
      assert.equal(env['GIT_TERMINAL_PROMPT'], '0');
      assert.equal(env['LC_ALL'], 'C');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  it('https: the token travels only as a scoped extra header in GIT_CONFIG_*', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kl-auth-'));
    try {
      await writeFile(join(dir, 'token'), 'ghp_secretvalue\n');
      const { env, secrets } = await prepareEnv(parseRemote('https://git.example.com:8443/o/r.git'), { tokenFile: join(dir, 'token') }, join(dir, 'state'));
      const keys = Object.keys(env).filter((k) => k.startsWith('GIT_CONFIG_KEY_')).map((k) => env[k]);
      assert.ok(keys.includes('http.https://git.example.com:8443/.extraHeader'));
      const i = keys.indexOf('http.https://git.example.com:8443/.extraHeader');
      const header = env[`GIT_CONFIG_VALUE_${i}`]!;
      assert.equal(header, `Authorization: Basic ${Buffer.from('x-access-token:ghp_secretvalue').toString('base64')}`);
      assert.ok(secrets.includes('ghp_secretvalue'));
      for (const [k, v] of Object.entries(env)) if (!k.startsWith('GIT_CONFIG_VALUE_')) assert.ok(!String(v).includes('ghp_secretvalue'), k);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  it('an empty or missing token file is a config error that does not echo content', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kl-auth-'));
    try {
      await writeFile(join(dir, 'token'), '  \n');
      await assert.rejects(prepareEnv(parseRemote('https://h/r'), { tokenFile: join(dir, 'token') }, dir), /is empty/);
      await assert.rejects(prepareEnv(parseRemote('https://h/r'), { tokenFile: join(dir, 'nope') }, dir), /cannot read \(ENOENT\)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('parseAuthor', () => {
  it('Name <email>', () => assert.deepEqual(parseAuthor('Latch Bot <bot@example.com>'), { name: 'Latch Bot', email: 'bot@example.com' }));
  for (const bad of ['bot@example.com', 'Bot <>', '<a@b>', 'Bot <a b@c>']) it(`refuses ${JSON.stringify(bad)}`, () => assert.throws(() => parseAuthor(bad), /--author must look like/));
});

describe('classify', () => {
  const r = (stderr: string) => ({ code: 128, stdout: '', stderr, timedOut: false });
  const table: [string, string][] = [
    ['Host key verification failed.\nfatal: Could not read from remote repository.', 'host-key'],
    ['No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\nHost key verification failed.', 'host-key'],
    ['git@h: Permission denied (publickey).\nfatal: Could not read from remote repository.', 'auth'],
    ["fatal: could not read Username for 'https://h': terminal prompts disabled", 'auth'],
    ['ssh: connect to host 127.0.0.1 port 1: Connection refused\nfatal: Could not read from remote repository.', 'unreachable'],
    ["fatal: '/tmp/x.git' does not appear to be a git repository", 'unreachable'],
    ["fatal: unable to access 'https://h/r/': Failed to connect to h port 443", 'unreachable'],
    ['fatal: something else', 'git'],
  ];
  for (const [stderr, kind] of table) {
    it(kind + ': ' + stderr.split('\n')[0], () => {
      const e = classify('fetch', r(stderr), { host: '127.0.0.1:2222', knownHosts: '/etc/kh' });
      assert.equal(e.kind, kind);
      assert.ok(!e.message.includes('\n'));
    });
  }
  it('the host-key message names the host and the known_hosts file', () => {
    assert.equal(classify('fetch', r('Host key verification failed.'), { host: 'h:22', knownHosts: '/kh' }).message, 'fetch: refused: the ssh host key of h:22 does not match the key listed in /kh (strict host key checking)');
  });
  it('retryable: unreachable yes, host-key and auth no', () => {
    assert.equal(new GitError('unreachable', 'x').retryable, true);
    assert.equal(new GitError('host-key', 'x').retryable, false);
    assert.equal(new GitError('auth', 'x').retryable, false);
  });
});

describe('PR naming', () => {
  const slugs: [string, string][] = [
    ['git@github.com:acme/deploy.git', 'acme/deploy'],
    ['ssh://git@gitlab.example:2222/group/sub/proj.git', 'group/sub/proj'],
    ['https://github.com/acme/deploy', 'acme/deploy'],
  ];
  for (const [url, slug] of slugs) it(url, () => assert.equal(repoSlug(url), slug));
  it('clusterBranch', () => {
    assert.equal(clusterBranch('prod-eu-1'), 'kube-latch/prod-eu-1');
    assert.equal(clusterBranch('prod eu/1'), 'kube-latch/prod-eu-1');
    assert.throws(() => clusterBranch('..'));
  });
});
