// Issue 12 §5: `npm test` (pretest) and `npm run demo` (predemo) check the Debian packages they need
// before anything runs, install the missing ones as root with apt-get, and otherwise stop with one line
// naming the packages and the command. The real script runs here against a fake PATH (dpkg-query, id,
// apt-get stand-ins that record what they were asked), so nothing is installed or removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../../..');
const SCRIPT = join(ROOT, 'scripts/install-system-deps.sh');
const BASH = existsSync('/bin/bash') ? '/bin/bash' : '/usr/bin/bash';
const ALL = ['git', 'openssh-server', 'openssh-client', 'gnupg', 'chromium', 'fonts-liberation', 'tmux', 'redis-server', 'buildah', 'mmdebstrap', 'runc'];

const dir = mkdtempSync(join(tmpdir(), 'kube-latch-system-deps-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A bin dir with the given stand-ins; `dpkg: false` leaves dpkg-query out (a machine that is not Debian). */
function fakeBin(o: { dpkg?: boolean; apt?: boolean; commands?: string[] } = {}): string {
  const bin = join(dir, `bin-${n++}`);
  mkdirSync(bin);
  const tool = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!${BASH}\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  if (o.dpkg !== false) {
    tool('dpkg-query', 'pkg="${@: -1}"; for p in $FAKE_INSTALLED; do [ "$p" = "$pkg" ] && { printf "install ok installed"; exit 0; }; done; echo "dpkg-query: no packages found matching $pkg" >&2; exit 1');
  }
  tool('id', 'echo "${FAKE_UID:-1000}"');
  if (o.apt !== false) tool('apt-get', 'echo "$*" >> "$FAKE_APT_LOG"; exit "${FAKE_APT_RC:-0}"');
  for (const c of o.commands ?? []) tool(c, 'exit 0');
  return bin;
}

function run(what: 'test' | 'demo', o: { installed?: string[]; uid?: number; aptRc?: number; bin?: string }) {
  const log = join(dir, `apt-${n++}.log`);
  const r = spawnSync(BASH, [SCRIPT, what], {
    encoding: 'utf8',
    env: { PATH: o.bin ?? fakeBin(), FAKE_INSTALLED: (o.installed ?? []).join(' '), FAKE_UID: String(o.uid ?? 1000), FAKE_APT_LOG: log, FAKE_APT_RC: String(o.aptRc ?? 0) },
  });
  const apt = existsSync(log) ? readFileSync(log, 'utf8').trimEnd().split('\n') : [];
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, apt };
}

test('everything present: silent, exit 0, apt-get never called', () => {
  const r = run('test', { installed: ALL, uid: 0 });
  assert.deepEqual([r.code, r.stdout, r.stderr, r.apt], [0, '', '', []]);
});

test('missing, not root: stops with one line naming the packages and the command; installs nothing', () => {
  const r = run('test', { installed: ALL.filter((p) => p !== 'openssh-server' && p !== 'gnupg') });
  assert.equal(r.code, 1);
  assert.deepEqual(r.apt, []);
  assert.equal(
    r.stderr,
    "kube-latch: the test needs Debian packages that are missing: openssh-server gnupg; install them with: sudo sh -c 'apt-get update && apt-get install -y --no-install-recommends openssh-server gnupg'\n",
  );
});

test('missing, root with apt-get: apt-get update once, then one install of exactly the missing ones', () => {
  const r = run('test', { installed: ['git', 'openssh-client', 'fonts-liberation', 'tmux', 'redis-server', 'buildah', 'mmdebstrap', 'runc'], uid: 0 });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.apt, ['update -qq', 'install -y -qq --no-install-recommends openssh-server gnupg chromium']);
  assert.equal(r.stderr, 'kube-latch: installing the Debian packages the test needs: openssh-server gnupg chromium\n');
});

test('root, but apt-get fails: one line with the command, exit 1', () => {
  const r = run('test', { installed: ALL.filter((p) => p !== 'chromium'), uid: 0, aptRc: 100 });
  assert.equal(r.code, 1);
  assert.equal(r.apt.length, 1, 'update failed, install not tried');
  assert.match(r.stderr.split('\n')[1]!, /^kube-latch: could not install chromium \(apt-get failed\); run as root: apt-get update && apt-get install -y --no-install-recommends chromium$/);
});

test('root without apt-get: stops with the one line', () => {
  const r = run('test', { installed: ALL.filter((p) => p !== 'git'), uid: 0, bin: fakeBin({ apt: false }) });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^kube-latch: the test needs Debian packages that are missing: git; install them with: /);
  assert.equal(r.stderr.split('\n').length, 2, 'one line');
});

test('the demo needs only git', () => {
  assert.equal(run('demo', { installed: ['git'] }).code, 0);
  const r = run('demo', { installed: ALL.filter((p) => p !== 'git') });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^kube-latch: the demo needs Debian packages that are missing: git; /);
});

test('not Debian (no dpkg-query): looks for the commands instead', () => {
  assert.equal(run('demo', { bin: fakeBin({ dpkg: false, commands: ['git'] }) }).code, 0);
  const r = run('demo', { bin: fakeBin({ dpkg: false }) });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /missing: git;/);
});

test('npm test and npm run demo run the check first; .ci/run still calls it', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts['pretest'], 'bash scripts/install-system-deps.sh test');
  assert.equal(pkg.scripts['predemo'], 'bash scripts/install-system-deps.sh demo');
  assert.match(readFileSync(join(ROOT, '.ci/run'), 'utf8'), /^bash scripts\/install-system-deps\.sh$/m);
  // `bash scripts/install-system-deps.sh` with no argument is the test set, as .ci/run needs.
  const r = spawnSync(BASH, [SCRIPT, 'bogus'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
});
