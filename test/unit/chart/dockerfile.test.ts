// The container image's recipe, checked statically: Node 24 build stages, a runtime FROM scratch whose files
// come from a Debian stage, production dependencies only, git and ssh, non-root, read-only-root ready,
// kube-latch's CLI as the entry point. The built image is run as the chart runs it in test/e2e/image.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | undefined;
  body: Instruction[];
}

/** Dockerfile instructions grouped by stage, with line continuations joined and comments dropped. */
function stages(text: string): { args: Map<string, string>; stages: Stage[] } {
  const joined = text.replace(/\\\n/g, ' ');
  const args = new Map<string, string>();
  const out: Stage[] = [];
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Z]+)\s+(.*)$/.exec(line);
    assert.ok(m, `not an instruction: ${line}`);
    const [, op, rest] = m;
    if (op === 'ARG' && out.length === 0) {
      const [k, v = ''] = rest!.split('=');
      args.set(k!, v);
      continue;
    }
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest!.trim());
      assert.ok(f, `FROM ${rest}`);
      const image = f[1]!.replace(/\$\{(\w+)\}/g, (_, k: string) => args.get(k) ?? '');
      out.push({ from: image, name: f[2], body: [] });
      continue;
    }
    out.at(-1)!.body.push({ op: op!, args: rest!.replace(/\s+/g, ' ') });
  }
  return { args, stages: out };
}

const dockerfile = readFileSync(ROOT + 'Dockerfile', 'utf8');
const { stages: all } = stages(dockerfile);
const runtime = all.at(-1)!;
const run = (s: Stage) => s.body.filter((i) => i.op === 'RUN').map((i) => i.args).join(' && ');
const byName = (n: string) => all.find((s) => s.name === n)!;
const rootfs = byName('rootfs');
/** the value of `ARG NAME="…"` in a stage */
const argOf = (s: Stage, name: string) => /^\S+="([^"]*)"$/.exec(s.body.find((i) => i.op === 'ARG' && i.args.startsWith(`${name}=`))?.args ?? '')?.[1]?.split(' ') ?? [];

test('stages: build and production dependencies on Node 24, the runtime FROM scratch from a Debian stage', () => {
  assert.match(byName('build').from, /^node:24[-.]/);
  assert.match(byName('deps').from, /^node:24[-.]/);
  assert.match(rootfs.from, /^debian:bookworm/);
  assert.equal(runtime.from, 'scratch');
  assert.deepEqual(runtime.body.filter((i) => i.op === 'RUN'), [], 'nothing runs in the runtime stage: no shell or package manager needed');
  assert.ok(runtime.body.some((i) => i.op === 'COPY' && /^--from=rootfs \/rootfs \/$/.test(i.args)), 'its files are the rootfs stage’s');
});

test('the build stage runs npm ci and the TypeScript build', () => {
  const build = all.find((s) => /npm run build/.test(run(s)));
  assert.ok(build, 'a stage runs npm run build');
  assert.match(run(build), /npm ci(?! --omit)/);
  assert.notEqual(build, runtime);
});

test('the runtime gets production dependencies only, the compiled dist and the Node binary', () => {
  const copies = runtime.body.filter((i) => i.op === 'COPY').map((i) => i.args);
  const modules = copies.find((c) => /node_modules/.test(c));
  assert.ok(modules, 'node_modules copied in');
  const from = /--from=(\S+)/.exec(modules)![1]!;
  assert.match(run(byName(from)), /npm ci [^&]*--omit=dev/);
  assert.match(run(byName(from)), /--ignore-scripts/);
  assert.ok(copies.some((c) => /--from=build \S*dist/.test(c)), 'dist copied from the build stage');
  const sources = copies.flatMap((c) => c.split(' ').filter((t) => !t.startsWith('--')).slice(0, -1));
  assert.ok(!sources.some((t) => /(^|\/)src\/?$/.test(t)), 'no TypeScript sources in the runtime');
  assert.ok(rootfs.body.some((i) => i.op === 'COPY' && /^--from=build \/usr\/local\/bin\/node \/rootfs\/usr\/local\/bin\/node$/.test(i.args)), "NODE_IMAGE's node");
});

test('git, openssh-client, tini and a shell in the runtime; no package manager or perl; a library check; non-root uid 65532 with a passwd entry, HOME on /tmp', () => {
  const packages = argOf(rootfs, 'RUNTIME_PACKAGES');
  for (const p of ['git', 'openssh-client', 'tini', 'dash', 'ca-certificates', 'libstdc++6']) assert.ok(packages.includes(p), p);
  const leftOut = argOf(rootfs, 'LEFT_OUT');
  for (const p of ['dpkg', 'perl', 'perl-base', 'debconf', 'passwd']) assert.ok(leftOut.includes(p), p);
  assert.match(run(rootfs), /dpkg-deb -x/, 'unpacked, no maintainer scripts run');
  assert.match(run(rootfs), /ld-linux-x86-64\.so\.2 --list/, 'every program is checked for missing libraries');
  assert.match(run(rootfs), /nonroot:x:65532:65532:[^:]*:\/tmp:/, 'a passwd entry (ssh refuses a uid without one)');
  const user = runtime.body.filter((i) => i.op === 'USER').at(-1);
  assert.equal(user?.args, '65532:65532');
  const env = runtime.body.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
  assert.match(env, /HOME=\/tmp/);
  assert.match(env, /NODE_ENV=production/);
});

test('the entry point is the package bin run by node, under an init that forwards signals', () => {
  const entry = runtime.body.filter((i) => i.op === 'ENTRYPOINT').at(-1);
  assert.ok(entry);
  const argv = JSON.parse(entry.args) as string[];
  assert.deepEqual(argv, ['/usr/bin/tini', '--', '/usr/local/bin/node', '/app/dist/cli/main.js']);
  const pkg = JSON.parse(readFileSync(ROOT + 'package.json', 'utf8')) as { bin: Record<string, string> };
  assert.equal(pkg.bin['kube-latch'], 'dist/cli/main.js', 'the entry point is the package bin');
});

test('.dockerignore sends only what the build needs', () => {
  const ignore = readFileSync(ROOT + '.dockerignore', 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  assert.equal(ignore[0], '*', 'everything is excluded first');
  const allowed = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1));
  for (const need of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src/']) assert.ok(allowed.includes(need), need);
  assert.ok(!allowed.some((a) => /node_modules|\.git|dist/.test(a)));
  // Everything the build stage COPYs from the context is allowed in.
  for (const i of all.flatMap((s) => s.body).filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))) {
    for (const src of i.args.split(' ').slice(0, -1)) assert.ok(allowed.some((a) => a === src || a === src + '/' || src.startsWith(a)), `COPY ${src}`);
  }
});

test("the runtime keeps coreutils' /bin/sleep for the chart's webhook preStop hook, and only that of coreutils", () => {
  // The chart runs `/bin/sleep N` as the webhook's preStop (the native sleep action needs Kubernetes 1.30).
  assert.ok(argOf(rootfs, 'RUNTIME_PACKAGES').includes('coreutils'));
  assert.match(run(rootfs), /case "\$f" in bin\/sleep\) ;; \*\) rm -f "\$f" ;; esac/);
});
