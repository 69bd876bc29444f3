// Issue 12 §4: credentials in URLs never reach a log line, an Event or an error message. One function
// (src/redact.ts) does it everywhere; this table covers every auth form kube-latch accepts, and the
// places that print.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { makeScrubber, parseRemote, prepareEnv } from '../../src/git/auth.ts';
import { classify } from '../../src/git/exec.ts';
import { redactFields } from '../../src/log.ts';
import { redactUrl, urlSecrets } from '../../src/redact.ts';

const TOKEN = 'ghp_0123456789abcdefghijklmnopqrstuvwxyz';

const forms: Array<[form: string, url: string, printed: string]> = [
  ['https with a token file (no userinfo)', 'https://github.com/acme/app.git', 'https://github.com/acme/app.git'],
  ['token as the URL user', `https://${TOKEN}@github.com/acme/app.git`, 'https://[redacted]@github.com/acme/app.git'],
  ['any https user without a password', 'https://git@git.example.com/app.git', 'https://[redacted]@git.example.com/app.git'],
  ['user:password', 'https://alice:s3cret@git.example.com/app.git', 'https://alice:[redacted]@git.example.com/app.git'],
  ['GitLab oauth2:token', `https://oauth2:${TOKEN}@gitlab.com/acme/app.git`, 'https://oauth2:[redacted]@gitlab.com/acme/app.git'],
  ['x-access-token:token', `https://x-access-token:${TOKEN}@github.com/a/b`, 'https://x-access-token:[redacted]@github.com/a/b'],
  ['token as user with a port', `https://${TOKEN}@127.0.0.1:8443/r.git`, 'https://[redacted]@127.0.0.1:8443/r.git'],
  ['a password holding @ , ) ]', 'https://u:p@ss,w)rd]@h/r', 'https://u:[redacted]@h/r'],
  ['a percent-encoded password', 'https://u:p%40ss@h/r', 'https://u:[redacted]@h/r'],
  ['an IPv6 host', 'https://u:pw@[::1]:8443/r', 'https://u:[redacted]@[::1]:8443/r'],
  ['ssh with a plain user (kept)', 'ssh://git@github.com/acme/app.git', 'ssh://git@github.com/acme/app.git'],
  ['ssh with a port (kept)', 'ssh://deploy@127.0.0.1:2222/srv/r.git', 'ssh://deploy@127.0.0.1:2222/srv/r.git'],
  ['ssh with a password', 'ssh://git:hunter2@host/r', 'ssh://git:[redacted]@host/r'],
  ['ssh with a token-looking user', `ssh://${TOKEN}@host/r`, 'ssh://[redacted]@host/r'],
  ['git+ssh with a plain user (kept)', 'git+ssh://git@host/r', 'git+ssh://git@host/r'],
  ['scp-style ssh (kept: no secret fits there)', 'git@github.com:acme/app.git', 'git@github.com:acme/app.git'],
  ['a file remote', 'file:///srv/git/app.git', 'file:///srv/git/app.git'],
  ['upper-case scheme', `HTTPS://${TOKEN}@h/r`, 'HTTPS://[redacted]@h/r'],
];

for (const [form, url, printed] of forms) {
  test(`redactUrl: ${form}`, () => {
    assert.equal(redactUrl(url), printed);
    assert.equal(redactUrl(printed), printed, 'idempotent');
  });
}

test('redactUrl: URLs inside text, git quoting them, several on a line, text around them untouched', () => {
  const cases: Array<[string, string]> = [
    [`fatal: unable to access 'https://${TOKEN}@github.com/a/b.git/': Failed to connect`, "fatal: unable to access 'https://[redacted]@github.com/a/b.git/': Failed to connect"],
    [`remote "https://u:pw@h/r" and (https://${TOKEN}@h2/r2)`, 'remote "https://u:[redacted]@h/r" and (https://[redacted]@h2/r2)'],
    ['a://b://u:pw@h/x', 'a://b://u:[redacted]@h/x'],
    ['mail alice@example.com, see https://example.com/x@y', 'mail alice@example.com, see https://example.com/x@y'],
    ['no url here: user:pass@host', 'no url here: user:pass@host'],
  ];
  for (const [input, want] of cases) assert.equal(redactUrl(input), want);
});

test('urlSecrets: the password and a token-as-user, also percent-decoded; nothing for a plain ssh user', () => {
  assert.deepEqual(urlSecrets(`https://${TOKEN}@h/r`), [TOKEN]);
  assert.deepEqual(urlSecrets('https://alice:p%40ss@h/r'), ['p%40ss', 'p@ss']);
  assert.deepEqual(urlSecrets('ssh://git@h/r'), []);
  assert.deepEqual(urlSecrets('https://h/r'), []);
});

test('parseRemote: the printable form of every auth form never holds the secret', () => {
  for (const [, url, printed] of forms) {
    if (url.startsWith('file:') || url.startsWith('git@')) continue;
    assert.equal(parseRemote(url).printable, printed);
  }
  assert.throws(() => parseRemote(`http://${TOKEN}@h/r`), (e: Error) => !e.message.includes(TOKEN) && /plain http is refused/.test(e.message));
  assert.throws(() => parseRemote(`ftp://u:${TOKEN}@h/r`), (e: Error) => !e.message.includes(TOKEN));
});

test('git output that echoes the URL, or the token alone, is scrubbed (token in the URL user)', async () => {
  const remote = parseRemote(`https://${TOKEN}@127.0.0.1:1/acme/app.git`);
  const { secrets } = await prepareEnv(remote, {}, '/tmp/kube-latch-redact-unused');
  const scrub = makeScrubber(secrets);
  const stderr = scrub(`Cloning into 'x'...\nfatal: unable to access '${remote.url}/': Failed to connect to 127.0.0.1 port 1\nerror: token ${TOKEN} refused\n`);
  assert.ok(!stderr.includes(TOKEN), stderr);
  const err = classify(`clone ${remote.printable}`, { code: 128, stdout: '', stderr, timedOut: false });
  assert.equal(err.kind, 'unreachable');
  assert.ok(!err.message.includes(TOKEN), err.message);
  assert.match(err.message, /https:\/\/\[redacted\]@127\.0\.0\.1:1\/acme\/app\.git/);
});

test('log lines: every string field, nested objects, errors and the message itself', () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  // The logger createLogger builds, on a sink we can read: same formatters and hooks.
  const log = pino(
    {
      formatters: { log: (o) => redactFields(o) as Record<string, unknown> },
      hooks: {
        logMethod(args, method) {
          for (let i = 0; i < args.length; i++) if (typeof args[i] === 'string') args[i] = redactFields(args[i]);
          method.apply(this, args as Parameters<typeof method>);
        },
      },
    },
    sink,
  );
  log.info({ repo: `https://${TOKEN}@h/r`, nested: { urls: [`ssh://git:pw@h/r`] }, err: new Error(`push https://u:${TOKEN}@h/r failed`) }, `starting on https://${TOKEN}@h/r`);
  const out = lines.join('');
  assert.ok(!out.includes(TOKEN), out);
  assert.ok(!out.includes(':pw@'), out);
  assert.match(out, /"repo":"https:\/\/\[redacted\]@h\/r"/);
  assert.match(out, /"msg":"starting on https:\/\/\[redacted\]@h\/r"/);
});

test('createLogger wires the same redaction (a line through the real logger, on stdout)', async () => {
  const { spawnSync } = await import('node:child_process');
  const script = `import { createLogger } from ${JSON.stringify(new URL('../../src/log.ts', import.meta.url).pathname)}; createLogger('t').info({ repo: 'https://${TOKEN}@h/r' }, 'clone https://u:${TOKEN}@h/r');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!r.stdout.includes(TOKEN), r.stdout);
  assert.match(r.stdout, /"repo":"https:\/\/\[redacted\]@h\/r"/);
  assert.match(r.stdout, /"msg":"clone https:\/\/u:\[redacted\]@h\/r"/);
});
