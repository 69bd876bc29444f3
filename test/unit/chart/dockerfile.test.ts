// The container image's recipe, checked statically (no container engine here): multi-stage, tsc in the
// build stage, production dependencies only in the runtime, git and ssh, non-root, read-only-root ready,
// `kube-latch` as the entry point. hadolint also passes on it (see docs/install.md).
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

test('multi-stage on Node 24: build, production dependencies, slim runtime', () => {
  assert.ok(all.length >= 2);
  for (const s of all) assert.match(s.from, /^node:24[-.]/, `stage ${s.name} builds on Node 24`);
  assert.match(runtime.from, /slim/);
});

test('the build stage runs npm ci and the TypeScript build', () => {
  const build = all.find((s) => /npm run build/.test(run(s)));
  assert.ok(build, 'a stage runs npm run build');
  assert.match(run(build), /npm ci(?! --omit)/);
  assert.notEqual(build, runtime);
});

test('the runtime gets production dependencies only and the compiled dist', () => {
  const copies = runtime.body.filter((i) => i.op === 'COPY').map((i) => i.args);
  const modules = copies.find((c) => /node_modules/.test(c));
  assert.ok(modules, 'node_modules copied in');
  const from = /--from=(\S+)/.exec(modules)![1]!;
  assert.match(run(byName(from)), /npm ci [^&]*--omit=dev/);
  assert.ok(copies.some((c) => /--from=\S+ \S*dist/.test(c)), 'dist copied from the build stage');
  const sources = copies.flatMap((c) => c.split(' ').filter((t) => !t.startsWith('--')).slice(0, -1));
  assert.ok(!sources.some((t) => /(^|\/)src\/?$/.test(t)), 'no TypeScript sources in the runtime');
  assert.match(run(runtime), /rm -rf [^&]*\/usr\/local\/lib\/node_modules\/npm/, 'npm removed from the runtime');
});

test('git and openssh-client in the runtime, non-root uid 65532 with a passwd entry, HOME on /tmp', () => {
  assert.match(run(runtime), /apt-get install [^&]*\bgit\b/);
  assert.match(run(runtime), /apt-get install [^&]*\bopenssh-client\b/);
  assert.match(run(runtime), /useradd [^&]*--uid 65532/);
  const user = runtime.body.filter((i) => i.op === 'USER').at(-1);
  assert.equal(user?.args, '65532:65532');
  const env = runtime.body.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
  assert.match(env, /HOME=\/tmp/);
  assert.match(env, /NODE_ENV=production/);
});

test('the entry point is kube-latch, under an init that forwards signals', () => {
  const entry = runtime.body.filter((i) => i.op === 'ENTRYPOINT').at(-1);
  assert.ok(entry);
  const argv = JSON.parse(entry.args) as string[];
  assert.equal(argv.at(-1), 'kube-latch');
  assert.match(argv[0]!, /tini$/);
  assert.match(run(runtime), /ln -s \/app\/dist\/cli\/main\.js \/usr\/local\/bin\/kube-latch/);
  const pkg = JSON.parse(readFileSync(ROOT + 'package.json', 'utf8')) as { bin: Record<string, string> };
  assert.equal(pkg.bin['kube-latch'], 'dist/cli/main.js', 'the link points at the package bin');
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

test('the runtime has /bin/sleep for the chart\'s webhook preStop hook (Debian base: coreutils is essential)', () => {
  // The chart runs `/bin/sleep N` as the webhook's preStop (the native sleep action needs Kubernetes 1.30).
  // A distroless or scratch runtime would make every pod deletion log a failed hook and skip the wait.
  assert.match(runtime.from, /^node:24[-.][^:]*(bookworm|trixie|bullseye)[^:]*-slim$|^node:24-slim$/, runtime.from);
  assert.doesNotMatch(run(runtime), /\b(apt-get (remove|purge)|dpkg (-r|--remove|-P|--purge))\b[^&]*coreutils/, 'coreutils stays');
  assert.doesNotMatch(run(runtime), /rm [^&]*\/(usr\/)?bin\/sleep/, 'sleep stays');
});
