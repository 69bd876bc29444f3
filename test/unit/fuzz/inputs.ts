// Inputs for fuzzing POST /mutate: real AdmissionReview fixtures mutated at random places (types swapped,
// fields dropped, huge strings, deep nesting, hostile policy annotations), then the bytes themselves
// mutated (truncation, invalid UTF-8, garbage), sent with assorted content types, whole or chunked.
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';

const FIXTURES = new URL('../../fixtures/admission/', import.meta.url);

/** Every AdmissionReview fixture, parsed. */
export const fixtures: ReadonlyArray<{ name: string; review: unknown }> = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({ name: f, review: JSON.parse(readFileSync(new URL(f, FIXTURES), 'utf8')) as unknown }));

type Path = ReadonlyArray<string | number>;

/** All paths to values inside a JSON document (objects and arrays included), root excluded. */
export function pathsOf(doc: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  if (Array.isArray(doc)) {
    doc.forEach((v, i) => {
      out.push([...prefix, i]);
      pathsOf(v, [...prefix, i], out);
    });
  } else if (typeof doc === 'object' && doc !== null) {
    for (const [k, v] of Object.entries(doc)) {
      out.push([...prefix, k]);
      pathsOf(v, [...prefix, k], out);
    }
  }
  return out;
}

const fixturePaths = fixtures.map((f) => pathsOf(f.review));

/** The fields the server and decide() actually read: mutated more often than the rest. */
const HOT: Path[] = [
  ['apiVersion'],
  ['kind'],
  ['request'],
  ['request', 'uid'],
  ['request', 'operation'],
  ['request', 'kind'],
  ['request', 'kind', 'kind'],
  ['request', 'resource'],
  ['request', 'resource', 'group'],
  ['request', 'resource', 'resource'],
  ['request', 'subResource'],
  ['request', 'dryRun'],
  ['request', 'name'],
  ['request', 'namespace'],
  ['request', 'object'],
  ['request', 'oldObject'],
  ['request', 'object', 'spec'],
  ['request', 'object', 'spec', 'replicas'],
  ['request', 'oldObject', 'spec', 'replicas'],
  ['request', 'object', 'metadata'],
  ['request', 'object', 'metadata', 'labels'],
  ['request', 'object', 'metadata', 'labels', 'kube-latch.io/enabled'],
  ['request', 'object', 'metadata', 'annotations'],
  ['request', 'object', 'metadata', 'annotations', 'kube-latch.io/ladder'],
  ['request', 'object', 'metadata', 'annotations', 'kube-latch.io/tolerance'],
  ['request', 'object', 'metadata', 'annotations', 'kube-latch.io/min-replicas'],
  ['request', 'object', 'metadata', 'annotations', 'kube-latch.io/max-replicas'],
  ['request', 'object', 'metadata', 'annotations', 'kube-latch.io/declared'],
  ['request', 'object', 'metadata', 'annotations', 'kubectl.kubernetes.io/last-applied-configuration'],
  ['request', 'oldObject', 'metadata', 'annotations'],
  ['request', 'oldObject', 'metadata', 'annotations', 'kube-latch.io/declared'],
  ['request', 'oldObject', 'metadata', 'annotations', 'kubectl.kubernetes.io/last-applied-configuration'],
  ['request', 'object', 'metadata', 'annotations', 'kube-latch.io/latched'],
  ['request', 'oldObject', 'metadata', 'annotations', 'kube-latch.io/latched'],
  ['request', 'options'],
  ['request', 'options', 'fieldManager'],
  ['request', 'object', 'metadata', 'managedFields'],
  ['request', 'object', 'metadata', 'managedFields', 0],
  ['request', 'object', 'metadata', 'managedFields', 0, 'manager'],
  ['request', 'object', 'metadata', 'managedFields', 0, 'operation'],
  ['request', 'object', 'metadata', 'managedFields', 0, 'subresource'],
  ['request', 'object', 'metadata', 'managedFields', 0, 'fieldsV1'],
  ['request', 'object', 'metadata', 'managedFields', 0, 'fieldsV1', 'f:spec'],
  ['request', 'object', 'metadata', 'managedFields', 0, 'fieldsV1', 'f:spec', 'f:replicas'],
  ['request', 'object', 'metadata', 'managedFields', 1],
  ['request', 'object', 'metadata', 'managedFields', 1, 'manager'],
  ['request', 'object', 'metadata', 'ownerReferences'],
];

/** A placeholder string that is swapped for deeply nested brackets in the serialized text. */
const DEEP = '\u0000kube-latch-fuzz-deep\u0000';

/** Long strings shaped to make a backtracking parser super-linear (issue 12 §2): each must cost microseconds. */
const adversarialPolicyValue = fc
  .tuple(
    fc.constantFrom(
      (n: number) => `1.${'0'.repeat(n)}`,
      (n: number) => `1.${'0'.repeat(n)}1`,
      (n: number) => `1${'0'.repeat(n)}.5`,
      (n: number) => '9'.repeat(n),
      (n: number) => `${' '.repeat(n)}2`,
      (n: number) => `step:${'9'.repeat(n)}`,
      (n: number) => '1-2-5'.repeat(n),
      (n: number) => `${'0'.repeat(n)}x`,
    ),
    fc.integer({ min: 20, max: 200_000 }),
  )
  .map(([shape, n]) => shape(n));

const policyValue = fc.oneof(
  fc.constantFrom('1-2-5', 'sig1', 'decade', 'step:10', 'step:0', 'step:-3', 'exact', 'bogus', '2', '1.582', '1.5', '0', '1e3', '-1', ' 3 ', '9'.repeat(400), '0x10', 'NaN', 'Infinity', '9999999999', '10000000000', '1.0000000000000000000000000000000', '1.00000000000000000000000000000000'),
  fc.string({ maxLength: 20 }),
  fc.integer().map(String),
  adversarialPolicyValue,
);

/** Values for the fields that decide what a request declares: managers, operations, last-applied, markers. */
const ownershipValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>('kustomize-controller', 'argocd-controller', 'kubectl-client-side-apply', 'kube-latch-watcher', 'helm', 'Apply', 'Update', 'scale', 'status', ''),
  fc.record({ manager: fc.constantFrom('kustomize-controller', 'argocd-controller', 'kube-controller-manager'), operation: fc.constantFrom('Apply', 'Update'), subresource: fc.constantFrom(undefined, '', 'scale'), fieldsType: fc.constant('FieldsV1'), fieldsV1: fc.constantFrom({ 'f:spec': { 'f:replicas': {} } }, { 'f:spec': {} }, { 'f:spec': null }, {}) }, { requiredKeys: ['manager', 'operation'] }),
  fc.record({ kind: fc.constant('UpdateOptions'), apiVersion: fc.constant('meta.k8s.io/v1'), fieldManager: fc.constantFrom<unknown>('kustomize-controller', 'argocd-controller', 'kubectl-client-side-apply', 'kube-latch-watcher', 17, null, '') }),
  fc.option(fc.integer({ min: 0, max: 2_147_483_647 }), { nil: undefined }).map((r) => JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', spec: r === undefined ? {} : { replicas: r } })),
  fc.constantFrom<unknown>('{"spec":{"replicas":null}}', '{"spec":{"replicas":"20"}}', '[]', 'null', '{"spec":', '50', ' 50', '050', '-1', '99999999999999999999', String(2 ** 31 - 1)),
  fc.integer({ min: 0, max: 2_147_483_647 }).map(String),
  // memories and markers a user may write by hand: up to 15 digits, past what a bound may hold
  fc.integer({ min: 1_000_000_000, max: 999_999_999_999_999 }).map(String),
);

const value: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 2, arbitrary: ownershipValue },
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 3, arbitrary: fc.constantFrom<unknown>(null, true, false, 0, -1, 1.5, 2 ** 53, -(2 ** 53), 1e308, '', '17', [], {}, [null], { '': null }, '__proto__') },
  { weight: 2, arbitrary: policyValue },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 400_000 }).map((n) => 'x'.repeat(n)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constant(DEEP) },
);

export type Mutation =
  | { op: 'set'; at: number; hot: boolean; value: unknown }
  | { op: 'delete'; at: number; hot: boolean }
  | { op: 'retype'; at: number; hot: boolean };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), hot: fc.boolean(), value }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), hot: fc.boolean() }),
  fc.record({ op: fc.constant('retype' as const), at: fc.nat(), hot: fc.boolean() }),
);

/** A value of another JSON type than v, keeping what it says where possible ("17" for 17, [x] for x). */
function retype(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : [v];
  if (typeof v === 'boolean') return v ? 'true' : 0;
  if (v === null) return {};
  if (Array.isArray(v)) return Object.fromEntries(v.map((x, i) => [String(i), x]));
  return Object.values(v as object);
}

function apply(doc: unknown, path: Path, m: Mutation): unknown {
  if (path.length === 0) return m.op === 'set' ? m.value : m.op === 'retype' ? retype(doc) : undefined;
  let parent = doc as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) {
    const next = parent?.[k];
    if (typeof next !== 'object' || next === null) return doc; // the path is gone after an earlier mutation
    parent = next as Record<string | number, unknown>;
  }
  if (typeof parent !== 'object' || parent === null) return doc;
  const last = path[path.length - 1]!;
  if (m.op === 'delete') {
    if (Array.isArray(parent) && typeof last === 'number') parent.splice(last, 1);
    else delete parent[last];
  } else if (m.op === 'retype') parent[last] = retype(parent[last]);
  else parent[last] = structuredClone(m.value);
  return doc;
}

export interface Body {
  /** where it came from, for the failure report */
  fixture: string;
  mutations: Mutation[];
  bytes: Buffer;
}

/** fast-check prints counterexamples with this: a short description instead of every byte. */
function described(b: Omit<Body, typeof fc.toStringMethod>): Body {
  const text = b.bytes.toString('utf8');
  const head = text.length > 160 ? `${text.slice(0, 80)}…${text.slice(-80)}` : text;
  const muts = JSON.stringify(b.mutations, (_k, v: unknown) => (typeof v === 'string' && v.length > 60 ? `${v.slice(0, 30)}…(${v.length} chars)` : v));
  return Object.assign(b, { [fc.toStringMethod]: () => `${b.fixture} ${muts.slice(0, 600)} (${b.bytes.length} bytes: ${JSON.stringify(head)})` });
}

/** A fixture with 0–6 structural mutations, serialized; DEEP placeholders become 1–20,000 nested arrays. */
export const mutatedReview: fc.Arbitrary<Body> = fc
  .record({
    fixture: fc.nat({ max: fixtures.length - 1 }),
    mutations: fc.array(mutation, { maxLength: 6 }),
    depth: fc.integer({ min: 1, max: 20_000 }),
    pretty: fc.boolean(),
  })
  .map(({ fixture, mutations, depth, pretty }) => {
    let doc = structuredClone(fixtures[fixture]!.review);
    for (const m of mutations) {
      const pool = m.hot ? HOT : fixturePaths[fixture]!;
      doc = apply(doc, pool[m.at % pool.length]!, m);
    }
    let text = JSON.stringify(doc, null, pretty ? 2 : undefined) ?? 'null';
    const placeholder = JSON.stringify(DEEP);
    if (text.includes(placeholder)) text = text.split(placeholder).join('['.repeat(depth) + ']'.repeat(depth));
    return described({ fixture: fixtures[fixture]!.name, mutations, bytes: Buffer.from(text, 'utf8') });
  });

type ByteMutation = { op: 'truncate'; at: number } | { op: 'insert'; at: number; bytes: number[] } | { op: 'flip'; at: number; byte: number };

const INVALID_UTF8 = [[0xff], [0xfe], [0xc3, 0x28], [0xa0, 0xa1], [0xe2, 0x28, 0xa1], [0xed, 0xa0, 0x80], [0xf0, 0x28, 0x8c, 0xbc], [0xf8, 0xa1, 0xa1, 0xa1, 0xa1], [0xc0, 0xaf], [0x00]];

const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.oneof(fc.constantFrom(...INVALID_UTF8), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 })) }),
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
);

function applyBytes(b: Buffer, m: ByteMutation): Buffer {
  const at = b.length === 0 ? 0 : m.at % b.length;
  if (m.op === 'truncate') return b.subarray(0, at);
  if (m.op === 'insert') return Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
  const c = Buffer.from(b);
  if (c.length > 0) c[at] = m.byte;
  return c;
}

/** A mutated review whose bytes are then damaged (1–3 byte-level mutations), or plain garbage. */
export const damagedBody: fc.Arbitrary<Body> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(mutatedReview, fc.array(byteMutation, { minLength: 1, maxLength: 3 })).map(([b, ms]) => described({ fixture: b.fixture, mutations: b.mutations, bytes: ms.reduce(applyBytes, b.bytes) })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2_000 }).map((a) => described({ fixture: '(random bytes)', mutations: [], bytes: Buffer.from(a) })) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => described({ fixture: '(random JSON)', mutations: [], bytes: Buffer.from(JSON.stringify(v) ?? 'null') })) },
);

/** Content types: mostly JSON in its accepted spellings, and the ones that must be refused. */
export const contentType: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'Application/JSON', ' application/json ;charset=UTF-8', 'application/vnd.kube+json') },
  { weight: 2, arbitrary: fc.constantFrom(undefined, '', 'text/plain', 'application/x-www-form-urlencoded', 'application/yaml', 'application/jsonx', 'json', 'multipart/form-data; boundary=x', 'application/json-patch', ';', 'application/+json/x') },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }).filter((s) => /^[\x20-\x7e]*$/.test(s)) },
);

/** How the body travels: with a content-length, or chunked in 1–20 pieces. */
export const framing: fc.Arbitrary<{ chunked: boolean; cuts: number[] }> = fc.record({
  chunked: fc.boolean(),
  cuts: fc.array(fc.nat(), { maxLength: 19 }),
});

/** The body split at the given offsets (mod its length), in order. */
export function split(b: Buffer, cuts: number[]): Buffer[] {
  if (b.length === 0) return [b];
  const at = [...new Set(cuts.map((c) => c % b.length))].filter((c) => c > 0).sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of at) {
    out.push(b.subarray(prev, c));
    prev = c;
  }
  out.push(b.subarray(prev));
  return out;
}

/** The server's rule for an acceptable content type (application/json or application/*+json, parameters ignored). */
export function isJsonType(ct: string | undefined): boolean {
  if (ct === undefined) return false;
  const t = ct.split(';')[0]!.trim().toLowerCase();
  return t === 'application/json' || (t.startsWith('application/') && t.endsWith('+json'));
}
