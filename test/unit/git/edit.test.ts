// Surgical edits, byte for byte: only the scalar's characters change, or one block of lines is inserted.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseAllDocuments } from 'yaml';
import { EditError, getScalar, renderString, setReplicas, setScalar } from '../../../src/git/edit.ts';

interface Case {
  name: string;
  input: string;
  doc?: number;
  path?: (string | number)[];
  value: string | number;
  want: string;
}

const replace: Case[] = [
  { name: 'plain, trailing comment kept', input: 'spec:\n  replicas: 20 # hpa 10-40\n', value: 50, want: 'spec:\n  replicas: 50 # hpa 10-40\n' },
  { name: 'CRLF line endings', input: 'a: 1\r\nspec:\r\n  replicas: 2\r\n  x: y\r\n', value: 10, want: 'a: 1\r\nspec:\r\n  replicas: 10\r\n  x: y\r\n' },
  { name: 'flow map', input: 'spec: {replicas: 3, paused: false}\n', value: 200, want: 'spec: {replicas: 200, paused: false}\n' },
  { name: 'flow map with spaces and a comment', input: 'spec: { replicas: 3 } # flow\n', value: 1, want: 'spec: { replicas: 1 } # flow\n' },
  {
    name: 'anchors and aliases elsewhere stay',
    input: 'base: &labels {app: web}\nspec:\n  replicas: 3\n  selector:\n    matchLabels: *labels\n',
    value: 4,
    want: 'base: &labels {app: web}\nspec:\n  replicas: 4\n  selector:\n    matchLabels: *labels\n',
  },
  {
    name: 'second document, --- inside a block string of the first',
    input: 'kind: ConfigMap\ndata:\n  x: |\n    ---\n    spec:\n      replicas: 3\n---\nkind: Deployment\nspec:\n  replicas: 3\n',
    doc: 1,
    value: 7,
    want: 'kind: ConfigMap\ndata:\n  x: |\n    ---\n    spec:\n      replicas: 3\n---\nkind: Deployment\nspec:\n  replicas: 7\n',
  },
  { name: 'tag kept', input: 'spec:\n  replicas: !!int 3\n', value: 9, want: 'spec:\n  replicas: !!int 9\n' },
  { name: 'no trailing newline', input: 'spec:\n  replicas: 3', value: 30, want: 'spec:\n  replicas: 30' },
  { name: 'four-space indentation and a BOM', input: '\uFEFFspec:\n    replicas: 3\n', value: 2, want: '\uFEFFspec:\n    replicas: 2\n' },
  {
    name: 'marker path in Helm values',
    input: 'web:\n  replicaCount: 4 # kube-latch: prod/Deployment/web\n',
    path: ['web', 'replicaCount'],
    value: 10,
    want: 'web:\n  replicaCount: 10 # kube-latch: prod/Deployment/web\n',
  },
  {
    name: 'sequence index in a path',
    input: 'items:\n  - spec:\n      replicas: 1\n',
    path: ['items', 0, 'spec', 'replicas'],
    value: 2,
    want: 'items:\n  - spec:\n      replicas: 2\n',
  },
  {
    name: 'string annotation in place, plain',
    input: 'metadata:\n  annotations:\n    kube-latch.io/rollout: started\n',
    path: ['metadata', 'annotations', 'kube-latch.io/rollout'],
    value: 'complete',
    want: 'metadata:\n  annotations:\n    kube-latch.io/rollout: complete\n',
  },
  {
    name: 'string that reads as a number gets quotes',
    input: 'metadata:\n  annotations:\n    kube-latch.io/rollout: started\n',
    path: ['metadata', 'annotations', 'kube-latch.io/rollout'],
    value: '50',
    want: 'metadata:\n  annotations:\n    kube-latch.io/rollout: "50"\n',
  },
  {
    name: 'single-quoted string with a quote',
    input: "metadata:\n  annotations:\n    note: 'a'\n",
    path: ['metadata', 'annotations', 'note'],
    value: "it's",
    want: "metadata:\n  annotations:\n    note: 'it''s'\n",
  },
];

const insert: Case[] = [
  {
    name: 'under spec: at the first child indentation, before its comment',
    input: 'kind: Deployment\nspec:\n  # pods\n  selector: {}\n',
    value: 5,
    want: 'kind: Deployment\nspec:\n  replicas: 5\n  # pods\n  selector: {}\n',
  },
  {
    name: 'four-space document',
    input: 'kind: Deployment\nspec:  # the spec\n    selector: {}\n    template: {}\n',
    value: 5,
    want: 'kind: Deployment\nspec:  # the spec\n    replicas: 5\n    selector: {}\n    template: {}\n',
  },
  { name: 'CRLF', input: 'kind: Deployment\r\nspec:\r\n  selector: {}\r\n', value: 3, want: 'kind: Deployment\r\nspec:\r\n  replicas: 3\r\n  selector: {}\r\n' },
  { name: 'flow spec', input: 'kind: Deployment\nspec: {selector: {}}\n', value: 3, want: 'kind: Deployment\nspec: {replicas: 3, selector: {}}\n' },
  { name: 'empty flow spec', input: 'kind: Deployment\nspec: {}\n', value: 3, want: 'kind: Deployment\nspec: {replicas: 3}\n' },
  {
    name: 'empty spec: key',
    input: 'kind: Deployment\nmetadata:\n   name: a\nspec:\nstatus: {}\n',
    value: 3,
    want: 'kind: Deployment\nmetadata:\n   name: a\nspec:\n   replicas: 3\nstatus: {}\n',
  },
  {
    name: 'missing spec: appended to the root with the document indentation',
    input: 'kind: Deployment\nmetadata:\n    name: a\n',
    value: 3,
    want: 'kind: Deployment\nmetadata:\n    name: a\nspec:\n    replicas: 3\n',
  },
  {
    name: 'missing spec in the first of two documents',
    input: 'kind: Deployment\nmetadata:\n  name: a\n---\nkind: Service\n',
    value: 3,
    want: 'kind: Deployment\nmetadata:\n  name: a\nspec:\n  replicas: 3\n---\nkind: Service\n',
  },
  {
    name: 'annotations map inserted under metadata',
    input: 'kind: Deployment\nmetadata:\n  name: web\nspec: {}\n',
    path: ['metadata', 'annotations', 'kube-latch.io/rollout'],
    value: 'started',
    want: 'kind: Deployment\nmetadata:\n  annotations:\n    kube-latch.io/rollout: started\n  name: web\nspec: {}\n',
  },
  {
    name: 'annotation added to an existing map',
    input: 'metadata:\n  annotations:\n    a: b\n',
    path: ['metadata', 'annotations', 'kube-latch.io/rollout'],
    value: '25%',
    want: 'metadata:\n  annotations:\n    kube-latch.io/rollout: 25%\n    a: b\n',
  },
  {
    name: 'annotations into a flow metadata',
    input: 'metadata: {name: web}\n',
    path: ['metadata', 'annotations', 'kube-latch.io/rollout'],
    value: 'failed',
    want: 'metadata: {annotations: {kube-latch.io/rollout: failed}, name: web}\n',
  },
];

describe('setScalar: replace', () => {
  for (const c of replace) {
    it(c.name, () => {
      const out = setScalar(c.input, c.doc ?? 0, c.path ?? ['spec', 'replicas'], c.value);
      assert.equal(out, c.want);
      assert.equal(setScalar(out, c.doc ?? 0, c.path ?? ['spec', 'replicas'], c.value), out, 'idempotent');
    });
  }
});

describe('setScalar: insert', () => {
  for (const c of insert) {
    it(c.name, () => {
      const path = c.path ?? ['spec', 'replicas'];
      const out = setScalar(c.input, c.doc ?? 0, path, c.value);
      assert.equal(out, c.want);
      assert.equal(getScalar(out, c.doc ?? 0, path), c.value);
      assert.equal(setScalar(out, c.doc ?? 0, path, c.value), out, 'idempotent');
    });
  }
});

describe('setScalar: refusals leave the text alone', () => {
  const cases: { name: string; input: string; path?: (string | number)[]; doc?: number; message: RegExp }[] = [
    { name: 'does not parse', input: 'spec:\n  replicas: [1\n', message: /does not parse/ },
    { name: 'no such document', input: 'spec:\n  replicas: 1\n', doc: 3, message: /document 3 does not exist/ },
    { name: 'replicas is an alias', input: 'x: &n 3\nspec:\n  replicas: *n\n', message: /alias/ },
    { name: 'spec is an alias', input: 'x: &s {replicas: 3}\nspec: *s\n', message: /alias/ },
    { name: 'anchored scalar used elsewhere', input: 'spec:\n  replicas: &n 3\nother: *n\n', message: /anchor &n/ },
    { name: 'block scalar', input: 'spec:\n  replicas: |\n    3\n', message: /block scalar/ },
    { name: 'spec is a string', input: 'spec: none\n', message: /not a map/ },
    { name: 'explicit null spec', input: 'spec: ~\n', message: /not a map/ },
    { name: 'insert through a sequence index', input: 'items: []\n', path: ['items', 0, 'x'], message: /does not exist/ },
    // A count is written only over a plain decimal integer (DESIGN §4): the others read differently in Go's YAML 1.1.
    { name: 'double-quoted number', input: 'spec:\n  replicas: "20"\n', message: /"20", not a plain decimal integer/ },
    { name: 'single-quoted number', input: "spec:\n  replicas: '20'\n", message: /'20', not a plain decimal integer/ },
    { name: 'leading zero (octal in YAML 1.1)', input: 'spec:\n  replicas: 020\n', message: /020, not a plain decimal integer/ },
    { name: 'hexadecimal', input: 'spec:\n  replicas: 0x14\n', message: /0x14, not a plain decimal integer/ },
    { name: 'exponent', input: 'spec:\n  replicas: 1e2\n', message: /1e2, not a plain decimal integer/ },
    { name: 'a string tag', input: 'spec:\n  replicas: !!str 3\n', message: /not a plain decimal integer/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.throws(() => setScalar(c.input, c.doc ?? 0, c.path ?? ['spec', 'replicas'], 5), (e: unknown) => e instanceof EditError && c.message.test(e.message));
    });
  }
  it('setReplicas rejects a negative or fractional value', () => {
    assert.throws(() => setReplicas('spec:\n  replicas: 1\n', 0, -1), EditError);
    assert.throws(() => setReplicas('spec:\n  replicas: 1\n', 0, 1.5), EditError);
  });
});

describe('renderString', () => {
  const table: [string, string][] = [
    ['complete', 'complete'],
    ['50', '"50"'],
    ['true', '"true"'],
    ['null', '"null"'],
    ['a: b', '"a: b"'],
    ['# x', '"# x"'],
    ['', '""'],
    ['two words', 'two words'],
    ['line\nbreak', '"line\\nbreak"'],
  ];
  for (const [s, want] of table) {
    it(JSON.stringify(s), () => {
      assert.equal(renderString(s), want);
      assert.equal(parseAllDocuments(`k: ${want}\n`)[0]!.get('k'), s);
    });
  }
});

// A generated manifest whose replicas scalar is at a known offset: prefix + scalar + suffix.
const eolArb = fc.constantFrom('\n', '\r\n');
const quoteArb = fc.constantFrom<'plain' | 'single' | 'double'>('plain', 'single', 'double');
const commentArb = fc.constantFrom('', ' # kube-latch: prod/Deployment/web', ' #no space', '   # wide');
const otherDocArb = fc.constantFrom(
  'kind: ConfigMap\ndata:\n  script: |\n    ---\n    spec:\n      replicas: 3 # kube-latch: x/y/z\n',
  'kind: Service\nspec: {ports: [{port: 80}]} # flow\n',
  'base: &b {app: web}\nuse: *b\n',
  '# only a comment\nkind: Secret\nstringData: {a: "---"}\n',
);
const extraKeyArb = fc.constantFrom('paused: false', 'selector: {matchLabels: {app: web}}', '# a comment line', "revisionHistoryLimit: '3'", 'minReadySeconds: 0 # zero');

function quote(v: number, q: 'plain' | 'single' | 'double'): string {
  return q === 'plain' ? String(v) : q === 'single' ? `'${v}'` : `"${v}"`;
}

describe('property: an edit changes only the scalar bytes', () => {
  it('replaces exactly the scalar, in any document, with any neighbours', () => {
    fc.assert(
      fc.property(
        eolArb,
        fc.constantFrom(2, 4),
        quoteArb,
        commentArb,
        fc.array(otherDocArb, { maxLength: 2 }),
        fc.array(otherDocArb, { maxLength: 2 }),
        fc.uniqueArray(extraKeyArb, { maxLength: 5 }),
        fc.nat(5),
        fc.nat(100_000),
        fc.nat(100_000),
        fc.boolean(),
        (eol, ind, q, comment, before, after, keys, split, oldV, newV, flow) => {
          const keysBefore = keys.slice(0, split);
          const keysAfter = keys.slice(split);
          const pad = ' '.repeat(ind);
          const head = `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n${pad}name: web\n`;
          let prefix: string;
          let suffix: string;
          if (flow) {
            prefix = `${head}spec: {replicas: `;
            suffix = `, paused: false}${comment}\n`;
          } else {
            prefix = `${head}spec:\n${keysBefore.map((k) => `${pad}${k}\n`).join('')}${pad}replicas: `;
            suffix = `${comment}\n${keysAfter.map((k) => `${pad}${k}\n`).join('')}`;
          }
          const docs = [...before, '%', ...after];
          const join = (mid: string) => docs.map((d) => (d === '%' ? prefix + mid + suffix : d)).join('---\n').replace(/\n/g, eol);
          const input = join(quote(oldV, q));
          if (q !== 'plain') {
            assert.throws(() => setReplicas(input, before.length, newV), /not a plain decimal integer/);
            return;
          }
          const out = setReplicas(input, before.length, newV);
          assert.equal(out, join(quote(newV, q)));
          assert.equal(setReplicas(out, before.length, newV), out);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('an insert adds one line and leaves every other byte', () => {
    fc.assert(
      fc.property(eolArb, fc.constantFrom(2, 3, 4), fc.uniqueArray(extraKeyArb, { minLength: 1, maxLength: 4 }), fc.array(otherDocArb, { maxLength: 2 }), fc.nat(1000), (eol, ind, keys, others, v) => {
        const pad = ' '.repeat(ind);
        const doc = `kind: Deployment\nmetadata:\n${pad}name: web\nspec:\n${keys.map((k) => `${pad}${k}\n`).join('')}`;
        const input = [doc, ...others].join('---\n').replace(/\n/g, eol);
        const out = setReplicas(input, 0, v);
        const line = `${pad}replicas: ${v}${eol}`;
        const at = input.indexOf(`spec:${eol}`) + `spec:${eol}`.length;
        assert.equal(out, input.slice(0, at) + line + input.slice(at));
        assert.equal(getScalar(out, 0, ['spec', 'replicas']), v);
      }),
      { numRuns: 200 },
    );
  });
});
