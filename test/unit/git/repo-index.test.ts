// The repo index over a fixture tree: markers, the source annotation, discovery with its ambiguity and
// namespace rules, Helm values, multi-document files, broken YAML, and incremental updates.
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, unlink, writeFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RepoIndex, normalizeRepoPath } from '../../../src/git/repo-index.ts';
import type { Location } from '../../../src/git/types.ts';

const FIXTURE = join(import.meta.dirname, '../../fixtures/git/repo');
const PATHS = ['apps', 'kustomize', 'helm', 'ns', 'dup', 'broken'];

type Want =
  | { state: 'located'; via: string; file: string; line: number; value: number; needsInsert?: boolean; path?: (string | number)[]; docIndex?: number }
  | { state: 'ambiguous' | 'unlocated'; via: string; candidates: string[]; reason?: RegExp };

const table: { name: string; ref: [string, string, string, string?]; want: Want }[] = [
  { name: 'discovery: one document', ref: ['prod', 'Deployment', 'web'], want: { state: 'located', via: 'discovery', file: 'apps/web/deployment.yaml', line: 10, value: 20 } },
  { name: 'discovery: kind is case-insensitive', ref: ['prod', 'deployment', 'web'], want: { state: 'located', via: 'discovery', file: 'apps/web/deployment.yaml', line: 10, value: 20 } },
  {
    name: 'multi-document file, no spec.replicas: declared 1, insert needed (a marker inside a block string is text)',
    ref: ['prod', 'Deployment', 'api'],
    want: { state: 'located', via: 'discovery', file: 'apps/api/all.yaml', line: 25, value: 1, needsInsert: true, docIndex: 2 },
  },
  {
    name: 'kind tells a StatefulSet from a Deployment; a quoted number is not a count',
    ref: ['prod', 'StatefulSet', 'api'],
    want: { state: 'ambiguous', via: 'discovery', candidates: ['apps/api/all.yaml:39'], reason: /"3", not a plain decimal integer/ },
  },
  {
    name: 'marker wins over an ambiguous discovery (kustomize overlay)',
    ref: ['prod', 'Deployment', 'worker'],
    want: { state: 'located', via: 'marker', file: 'kustomize/overlays/prod/replicas-patch.yaml', line: 6, value: 5 },
  },
  {
    name: 'marker for another namespace picks the other overlay',
    ref: ['staging', 'Deployment', 'worker'],
    want: { state: 'located', via: 'marker', file: 'kustomize/overlays/staging/replicas-patch.yaml', line: 6, value: 2 },
  },
  {
    name: 'marker wins over the source annotation',
    ref: ['prod', 'Deployment', 'worker', 'kustomize/base/worker.yaml'],
    want: { state: 'located', via: 'marker', file: 'kustomize/overlays/prod/replicas-patch.yaml', line: 6, value: 5 },
  },
  {
    name: 'no marker: base and overlays without namespace all match',
    ref: ['dev', 'Deployment', 'worker'],
    want: {
      state: 'ambiguous',
      via: 'discovery',
      candidates: ['kustomize/base/worker.yaml:6', 'kustomize/overlays/prod/replicas-patch.yaml:6', 'kustomize/overlays/staging/replicas-patch.yaml:6'],
    },
  },
  {
    name: 'Helm values: marker on replicaCount, the document is not a workload',
    ref: ['prod', 'Deployment', 'frontend'],
    want: { state: 'located', via: 'marker', file: 'helm/values-prod.yaml', line: 4, value: 4, path: ['frontend', 'replicaCount'] },
  },
  {
    name: 'a marker on a line without a scalar value',
    ref: ['prod', 'Deployment', 'search'],
    want: { state: 'ambiguous', via: 'marker', candidates: ['helm/values-prod.yaml:9'], reason: /no replicas key of its own/ },
  },
  { name: 'namespace rule: the document in namespace a', ref: ['a', 'Deployment', 'cache'], want: { state: 'located', via: 'discovery', file: 'ns/cache.yml', line: 7, value: 2, docIndex: 0 } },
  { name: 'namespace rule: the document in namespace b (CRLF file)', ref: ['b', 'Deployment', 'cache'], want: { state: 'located', via: 'discovery', file: 'ns/cache.yml', line: 15, value: 8, docIndex: 1 } },
  { name: 'namespace rule: documents that set another namespace never match', ref: ['c', 'Deployment', 'cache'], want: { state: 'unlocated', via: 'discovery', candidates: [] } },
  {
    name: 'a document without namespace and one with the right namespace: ambiguous',
    ref: ['prod', 'Deployment', 'queue'],
    want: { state: 'ambiguous', via: 'discovery', candidates: ['dup/one.yaml:6', 'dup/two.yaml:7'] },
  },
  { name: 'the namespaced one is excluded elsewhere', ref: ['dev', 'Deployment', 'queue'], want: { state: 'located', via: 'discovery', file: 'dup/one.yaml', line: 6, value: 3 } },
  {
    name: 'a broken file that declares the workload makes discovery ambiguous',
    ref: ['prod', 'Deployment', 'legacy'],
    want: { state: 'ambiguous', via: 'discovery', candidates: ['apps/legacy.yaml:6', 'broken/helm-template.yaml:?'] },
  },
  { name: 'outside the paths: not discovered', ref: ['prod', 'Deployment', 'hidden'], want: { state: 'unlocated', via: 'discovery', candidates: [], reason: /no document under apps, kustomize/ } },
  {
    name: 'source annotation reaches a file outside the paths',
    ref: ['prod', 'Deployment', 'hidden', 'outside/hidden.yaml'],
    want: { state: 'located', via: 'source', file: 'outside/hidden.yaml', line: 7, value: 7 },
  },
  {
    name: 'source annotation: the matching document of a multi-document file',
    ref: ['prod', 'Deployment', 'api', './apps/api/all.yaml'],
    want: { state: 'located', via: 'source', file: 'apps/api/all.yaml', line: 25, value: 1, needsInsert: true },
  },
  {
    name: 'source annotation: the single replicas line of a values file',
    ref: ['prod', 'Deployment', 'single', 'helm/values-single.yaml'],
    want: { state: 'located', via: 'source', file: 'helm/values-single.yaml', line: 2, value: 3, path: ['replicas'] },
  },
  {
    name: 'source annotation: no document and no replicas line',
    ref: ['prod', 'Deployment', 'backend', 'helm/values-prod.yaml'],
    want: { state: 'unlocated', via: 'source', candidates: [], reason: /no replicas line/ },
  },
  {
    name: 'source annotation decides alone: a missing file is not replaced by discovery',
    ref: ['prod', 'Deployment', 'web', 'apps/web/missing.yaml'],
    want: { state: 'unlocated', via: 'source', candidates: [], reason: /not a YAML file/ },
  },
  { name: 'source annotation escaping the tree', ref: ['prod', 'Deployment', 'web', '../../etc/passwd'], want: { state: 'unlocated', via: 'source', candidates: [], reason: /not a path inside/ } },
  {
    name: 'source annotation naming a broken file',
    ref: ['prod', 'Deployment', 'legacy', 'broken/helm-template.yaml'],
    want: { state: 'unlocated', via: 'source', candidates: ['broken/helm-template.yaml:?'], reason: /does not parse/ },
  },
];

function check(got: Location, want: Want): void {
  assert.equal(got.state, want.state);
  assert.equal(got.via, want.via);
  if (want.state === 'located') {
    assert.ok(got.state === 'located');
    assert.equal(got.file, want.file);
    assert.equal(got.line, want.line);
    assert.equal(got.value, want.value);
    assert.equal(got.needsInsert, want.needsInsert ?? false);
    if (want.path) assert.deepEqual(got.path, want.path);
    if (want.docIndex !== undefined) assert.equal(got.docIndex, want.docIndex);
  } else {
    assert.ok(got.state !== 'located');
    assert.deepEqual(got.candidates, want.candidates);
    if (want.reason) assert.match(got.reason, want.reason);
  }
}

describe('RepoIndex.locate over the fixture repo', () => {
  let index: RepoIndex;
  before(async () => {
    index = await RepoIndex.build(FIXTURE, PATHS);
  });
  for (const t of table) {
    it(t.name, () => {
      const [namespace, kind, name, source] = t.ref;
      check(index.locate({ namespace, kind, name, ...(source !== undefined ? { source } : {}) }), t.want);
    });
  }
  it('reports the broken file with a one-line error and leaves it out', () => {
    const broken = index.brokenFiles;
    assert.equal(broken.length, 1);
    assert.equal(broken[0]!.file, 'broken/helm-template.yaml');
    assert.match(broken[0]!.error, /^line \d+:\d+ \S/);
    assert.ok(!broken[0]!.error.includes('\n'));
  });
  it('reports markers that designate nothing', () => {
    assert.deepEqual(
      index.markerProblems.map((p) => [p.file, p.line]),
      [
        ['helm/values-prod.yaml', 7],
        ['helm/values-prod.yaml', 9],
      ],
    );
  });
  it('counts files and documents; non-YAML files are ignored', () => {
    assert.deepEqual(index.stats, { files: 12, documents: 15, markers: 5, broken: 1 });
  });
  it('locateDocument finds the workload document itself, also for a marker-located workload', () => {
    assert.deepEqual(index.locateDocument({ namespace: 'prod', kind: 'Deployment', name: 'web' }), { state: 'located', via: 'discovery', file: 'apps/web/deployment.yaml', line: 2, docIndex: 0 });
    const w = index.locateDocument({ namespace: 'prod', kind: 'Deployment', name: 'worker' });
    assert.equal(w.state, 'located');
    assert.equal(w.state === 'located' && w.file, 'kustomize/overlays/prod/replicas-patch.yaml');
    assert.equal(index.locateDocument({ namespace: 'prod', kind: 'Deployment', name: 'frontend' }).state, 'unlocated');
  });
  it('the whole tree is the default scan root', async () => {
    const all = await RepoIndex.build(FIXTURE);
    check(all.locate({ namespace: 'prod', kind: 'Deployment', name: 'hidden' }), { state: 'located', via: 'discovery', file: 'outside/hidden.yaml', line: 7, value: 7 });
  });
  it('refuses scan roots outside the tree', async () => {
    await assert.rejects(RepoIndex.build(FIXTURE, ['../x']), /must be relative/);
  });
});

// DESIGN §4: a location whose value is not one plain count, reached directly, is ambiguous (nothing is
// written) and names file:line. Over the real files of test/fixtures/git/ambiguous.
const AMBIGUOUS = join(import.meta.dirname, '../../fixtures/git/ambiguous');
const ambiguous: { name: string; ref: [string, string, string, string?]; want: Want }[] = [
  {
    name: 'marker on a flow-style line with no replicas key',
    ref: ['prod', 'Deployment', 'flow'],
    want: { state: 'ambiguous', via: 'marker', candidates: ['helm/values.yaml:8'], reason: /^helm\/values\.yaml:8: .*no replicas key of its own \(only "cpu", "memory"\)/ },
  },
  {
    name: 'marker on a value inside an anchored map',
    ref: ['prod', 'Deployment', 'anchored'],
    want: { state: 'ambiguous', via: 'marker', candidates: ['helm/values.yaml:3'], reason: /inside a map that carries an anchor \(&common, line 2\)/ },
  },
  {
    name: 'marker on a value in a map that uses a merge key',
    ref: ['prod', 'Deployment', 'canary'],
    want: { state: 'ambiguous', via: 'marker', candidates: ['helm/values.yaml:7'], reason: /merge key \(<<, line 6\)/ },
  },
  { name: 'spec.replicas is an alias', ref: ['prod', 'Deployment', 'aliased'], want: { state: 'ambiguous', via: 'discovery', candidates: ['apps/alias.yaml:8'], reason: /alias \(\*count\)/ } },
  {
    name: 'spec takes replicas from a merge key (not a declared 1)',
    ref: ['prod', 'Deployment', 'merged'],
    want: { state: 'ambiguous', via: 'discovery', candidates: ['apps/merge.yaml:9'], reason: /^apps\/merge\.yaml:9: spec\.replicas may come from the merge key \(<<\) at line 9/ },
  },
  { name: '020: octal in YAML 1.1, decimal in 1.2', ref: ['prod', 'Deployment', 'octal'], want: { state: 'ambiguous', via: 'discovery', candidates: ['apps/numbers.yaml:9'], reason: /020, not a plain decimal integer/ } },
  { name: '0x14: hexadecimal', ref: ['prod', 'Deployment', 'hex'], want: { state: 'ambiguous', via: 'discovery', candidates: ['apps/numbers.yaml:17'], reason: /0x14, not a plain decimal integer/ } },
  { name: '1e2: a float', ref: ['prod', 'Deployment', 'exponent'], want: { state: 'ambiguous', via: 'discovery', candidates: ['apps/numbers.yaml:25'], reason: /1e2, not a plain decimal integer/ } },
  { name: '"4": a string', ref: ['prod', 'Deployment', 'quoted'], want: { state: 'ambiguous', via: 'discovery', candidates: ['apps/numbers.yaml:33'], reason: /"4", not a plain decimal integer/ } },
  { name: 'the control: a plain count is located', ref: ['prod', 'Deployment', 'control'], want: { state: 'located', via: 'discovery', file: 'apps/control.yaml', line: 7, value: 2 } },
  {
    name: 'the source rule names the values file: its single replicas line is located',
    ref: ['prod', 'Deployment', 'one', 'values/shared.yaml'],
    want: { state: 'located', via: 'source', file: 'values/shared.yaml', line: 3, value: 6, path: ['replicas'] },
  },
];

describe('RepoIndex.locate: a value that is not one plain count is ambiguous', () => {
  let index: RepoIndex;
  before(async () => {
    index = await RepoIndex.build(AMBIGUOUS);
  });
  for (const t of ambiguous) {
    it(t.name, () => {
      const [namespace, kind, name, source] = t.ref;
      check(index.locate({ namespace, kind, name, ...(source !== undefined ? { source } : {}) }), t.want);
    });
  }
  it('every such marker is also listed as a marker problem (a log line each)', () => {
    assert.deepEqual(
      index.markerProblems.map((p) => `${p.file}:${p.line}`),
      ['helm/values.yaml:3', 'helm/values.yaml:7', 'helm/values.yaml:8'],
    );
  });
});

describe('RepoIndex.update: only the changed files are re-parsed', () => {
  let dir: string;
  let index: RepoIndex;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kl-index-'));
    await cp(FIXTURE, dir, { recursive: true });
    index = await RepoIndex.build(dir, PATHS);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const web = { namespace: 'prod', kind: 'Deployment', name: 'web' };
  it('a changed value is seen after update, not before', async () => {
    await writeFile(join(dir, 'apps/web/deployment.yaml'), 'kind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n  replicas: 50\n');
    assert.equal((index.locate(web) as { value: number }).value, 20, 'no I/O in locate');
    assert.equal(await index.update(['apps/web/deployment.yaml']), 1);
    check(index.locate(web), { state: 'located', via: 'discovery', file: 'apps/web/deployment.yaml', line: 4, value: 50 });
  });
  it('a new file can make a workload ambiguous; deleting it resolves it', async () => {
    await writeFile(join(dir, 'apps/web-copy.yaml'), 'kind: Deployment\nmetadata: {name: web}\nspec: {replicas: 1}\n');
    await index.update(['apps/web-copy.yaml']);
    assert.equal(index.locate(web).state, 'ambiguous');
    await unlink(join(dir, 'apps/web-copy.yaml'));
    await index.update(['apps/web-copy.yaml']);
    assert.equal(index.locate(web).state, 'located');
  });
  it('a file that breaks is reported and stops matching; fixing it restores it', async () => {
    await writeFile(join(dir, 'dup/one.yaml'), 'kind: Deployment\nmetadata: {name: queue\n');
    await index.update(['dup/one.yaml']);
    assert.deepEqual(index.brokenFiles.map((b) => b.file), ['broken/helm-template.yaml', 'dup/one.yaml']);
    check(index.locate({ namespace: 'dev', kind: 'Deployment', name: 'queue' }), { state: 'unlocated', via: 'discovery', candidates: ['dup/one.yaml:?'], reason: /does not parse/ });
    await writeFile(join(dir, 'dup/one.yaml'), 'kind: Deployment\nmetadata: {name: queue}\nspec: {replicas: 9}\n');
    await index.update(['dup/one.yaml']);
    check(index.locate({ namespace: 'dev', kind: 'Deployment', name: 'queue' }), { state: 'located', via: 'discovery', file: 'dup/one.yaml', line: 3, value: 9 });
  });
  it('a moved marker moves the location', async () => {
    const ref = { namespace: 'prod', kind: 'Deployment', name: 'worker' };
    await writeFile(join(dir, 'kustomize/overlays/prod/replicas-patch.yaml'), 'kind: Deployment\nmetadata: {name: worker}\nspec:\n  replicas: 5\n');
    await writeFile(join(dir, 'kustomize/base/worker.yaml'), 'kind: Deployment\nmetadata: {name: worker}\nspec:\n  replicas: 10 # kube-latch: prod/Deployment/worker\n');
    await index.update(['kustomize/overlays/prod/replicas-patch.yaml', 'kustomize/base/worker.yaml']);
    check(index.locate(ref), { state: 'located', via: 'marker', file: 'kustomize/base/worker.yaml', line: 4, value: 10 });
  });
  it('a marker in a file that breaks blocks the fall-through to discovery', async () => {
    const ref = { namespace: 'prod', kind: 'Deployment', name: 'frontend' };
    await writeFile(join(dir, 'apps/frontend.yaml'), 'kind: Deployment\nmetadata: {name: frontend}\nspec: {replicas: 1}\n');
    await writeFile(join(dir, 'helm/values-prod.yaml'), 'frontend:\n  replicaCount: 4 # kube-latch: prod/Deployment/frontend\n  image: [oops\n');
    await index.update(['apps/frontend.yaml', 'helm/values-prod.yaml']);
    check(index.locate(ref), { state: 'unlocated', via: 'marker', candidates: ['helm/values-prod.yaml:?'], reason: /in a file that does not parse/ });
  });
  it('files outside the paths, non-YAML files and escaping paths are ignored', async () => {
    assert.equal(await index.update(['outside/hidden.yaml', 'apps/README.md', '../x.yaml']), 0);
  });
  it('a source file outside the paths is re-read after update', async () => {
    const ref = { namespace: 'prod', kind: 'Deployment', name: 'hidden', source: 'outside/hidden.yaml' };
    assert.equal((index.locate(ref) as { value: number }).value, 7);
    await writeFile(join(dir, 'outside/hidden.yaml'), 'kind: Deployment\nmetadata: {name: hidden}\nspec: {replicas: 70}\n');
    assert.equal(await index.update(['outside/hidden.yaml']), 1);
    assert.equal((index.locate(ref) as { value: number }).value, 70);
  });
  it('symlinks are never followed', async () => {
    await symlink('/etc/hostname', join(dir, 'apps/link.yaml'));
    await index.update(['apps/link.yaml']);
    const rebuilt = await RepoIndex.build(dir, PATHS);
    assert.equal(rebuilt.stats.files, index.stats.files);
    assert.equal(index.locate({ namespace: 'x', kind: 'Deployment', name: 'y', source: 'apps/link.yaml' }).state, 'unlocated');
  });
});

describe('normalizeRepoPath', () => {
  const table: [string, string | undefined][] = [
    ['a/b.yaml', 'a/b.yaml'],
    ['./a//b.yaml', 'a/b.yaml'],
    ['/etc/passwd', undefined],
    ['a/../../b', undefined],
    ['.git/config', undefined],
    ['a\\b', undefined],
  ];
  for (const [p, want] of table) it(JSON.stringify(p), () => assert.equal(normalizeRepoPath(p), want));
});
