// One YAML file → what the repo index needs from it: per document its kind, name, namespace, source
// annotation and replicas scalar; every `# kube-latch:` marker and the scalar it sits on. Built from the
// `yaml` package's parser (comments come from the CST, so a `# kube-latch:` inside a block string is text,
// not a marker) and its composed documents (node ranges, aliases resolved to "not editable").
import { Composer, LineCounter, Parser, isAlias, isMap, isScalar, isSeq, type Document, type Node, type Scalar } from 'yaml';
import { ANNOTATIONS } from '../latch/index.ts';
import { matchKey, type PathKey } from './types.ts';

/** A scalar value that sits under a map key, i.e. something a marker or a lookup can designate. */
export interface ScalarSite {
  readonly docIndex: number;
  readonly path: readonly PathKey[];
  /** 1-based line and column of the value */
  readonly line: number;
  readonly col: number;
  /** the value as a non-negative integer (plain or quoted), null when it is not one */
  readonly int: number | null;
}

export interface DocInfo {
  readonly index: number;
  /** 1-based line of the document's first content */
  readonly line: number;
  readonly kind?: string;
  readonly name?: string;
  readonly namespace?: string;
  /** metadata.annotations[kube-latch.io/source] */
  readonly source?: string;
  /** spec.replicas when it is a scalar; undefined when absent */
  readonly replicas?: ScalarSite;
  /** set when spec.replicas exists but cannot be read or written (alias, collection) */
  readonly replicasProblem?: string;
  /** line after which `replicas:` would be inserted: the `spec:` key, else the document start */
  readonly insertLine: number;
  /** every `replicas:` key with a scalar value anywhere in the document (the source rule's fallback) */
  readonly replicasSites: readonly ScalarSite[];
}

export interface MarkerInfo {
  /** `ns/kind/name` with the kind lower-cased, see matchKey */
  readonly key: string;
  /** the marker as written */
  readonly target: string;
  readonly line: number;
  /** the integer scalar the marker designates; undefined with a problem */
  readonly site?: ScalarSite;
  readonly problem?: string;
}

export type FileAnalysis =
  | { readonly ok: true; readonly docs: readonly DocInfo[]; readonly markers: readonly MarkerInfo[] }
  | { readonly ok: false; readonly error: string };

const MARKER = /^#\s*kube-latch:\s*(\S*)/;
const TARGET = /^([^/\s]+)\/([^/\s]+)\/([^/\s]+)$/;

interface CommentTok {
  offset: number;
  source: string;
}

export function analyzeYaml(text: string): FileAnalysis {
  const lc = new LineCounter();
  const parser = new Parser(lc.addNewLine);
  const composer = new Composer({ prettyErrors: false, uniqueKeys: true });
  const comments: CommentTok[] = [];
  let docs: Document.Parsed[];
  try {
    // Walking the CST for comments costs a fifth of the parse: only files that can hold a marker pay it.
    const tokens = text.includes('kube-latch:') ? tapComments(parser.parse(text), comments) : parser.parse(text);
    docs = Array.from(composer.compose(tokens));
  } catch (err) {
    return { ok: false, error: oneLine((err as Error).message) };
  }
  for (const d of docs) {
    const e = d.errors[0];
    if (e) {
      const pos = lc.linePos(e.pos[0]);
      return { ok: false, error: `line ${pos.line}:${pos.col} ${oneLine(e.message)}` };
    }
  }

  const markerLines = new Map<number, CommentTok>();
  for (const c of comments) if (MARKER.test(c.source)) markerLines.set(lc.linePos(c.offset).line, c);

  const docInfos: DocInfo[] = [];
  const markerSites: { site: ScalarSite; key: string; end: number }[] = [];
  docs.forEach((doc, index) => {
    const replicasSites: ScalarSite[] = [];
    const contents = doc.contents;
    if (contents === null) return;
    walk(contents, [], (node, path, key) => {
      const start = node.range![0];
      const pos = lc.linePos(start);
      const site: ScalarSite = { docIndex: index, path, line: pos.line, col: pos.col, int: intValue(node) };
      if (key === 'replicas') replicasSites.push(site);
      const endLine = lc.linePos(node.range![1]).line;
      if (markerLines.has(endLine)) markerSites.push({ site: { ...site, line: endLine }, key, end: node.range![1] });
    });
    docInfos.push(describeDoc(doc, index, lc, replicasSites));
  });

  const markers: MarkerInfo[] = [];
  for (const [line, c] of markerLines) {
    const target = MARKER.exec(c.source)![1]!;
    const m = TARGET.exec(target);
    if (!m) {
      markers.push({ key: '', target, line, problem: `marker "${c.source.trim()}" is not "# kube-latch: NAMESPACE/KIND/NAME"` });
      continue;
    }
    const key = matchKey(m[1]!, m[2]!, m[3]!);
    const onLine = markerSites.filter((s) => s.site.line === line && s.end <= c.offset);
    const replicas = onLine.filter((s) => s.key === 'replicas');
    const chosen = (replicas.length > 0 ? replicas : onLine).at(-1);
    if (!chosen) {
      markers.push({ key, target, line, problem: `marker for ${target} is not on a line with a "key: value" scalar` });
    } else if (chosen.site.int === null) {
      markers.push({ key, target, line, problem: `marker for ${target} designates a value that is not a non-negative integer` });
    } else {
      markers.push({ key, target, line, site: chosen.site });
    }
  }
  return { ok: true, docs: docInfos, markers };
}

function describeDoc(doc: Document.Parsed, index: number, lc: LineCounter, replicasSites: ScalarSite[]): DocInfo {
  const contents = doc.contents!;
  const line = lc.linePos(contents.range[0]).line;
  const info: { -readonly [K in keyof DocInfo]: DocInfo[K] } = { index, line, insertLine: line, replicasSites };
  if (!isMap(contents)) return info;
  const kind = stringAt(doc, ['kind']);
  const name = stringAt(doc, ['metadata', 'name']);
  const namespace = stringAt(doc, ['metadata', 'namespace']);
  const source = stringAt(doc, ['metadata', 'annotations', ANNOTATIONS.source]);
  if (kind !== undefined) info.kind = kind;
  if (name !== undefined) info.name = name;
  if (namespace !== undefined) info.namespace = namespace;
  if (source !== undefined) info.source = source;
  const specPair = contents.items.find((p) => isScalar(p.key) && p.key.value === 'spec');
  if (specPair && isScalar(specPair.key) && specPair.key.range) info.insertLine = lc.linePos(specPair.key.range[0]).line;
  const spec = specPair?.value;
  if (isMap(spec)) {
    const rp = spec.items.find((p) => isScalar(p.key) && p.key.value === 'replicas');
    if (rp) {
      const site = replicasSites.find((s) => s.path.length === 2 && s.path[0] === 'spec' && s.path[1] === 'replicas');
      if (site && site.int !== null) info.replicas = site;
      else if (site) info.replicasProblem = 'spec.replicas is not a non-negative integer';
      else info.replicasProblem = isAlias(rp.value) ? 'spec.replicas is an alias' : 'spec.replicas is not a scalar';
    }
  } else if (isAlias(spec)) {
    info.replicasProblem = 'spec is an alias';
  }
  return info;
}

/** Visits every scalar that is a map value, with its key path. Aliases are not followed. */
function walk(node: unknown, path: PathKey[], visit: (node: Scalar, path: PathKey[], key: string) => void): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isScalar(pair.key) || pair.key.value === null || typeof pair.key.value === 'object') continue;
      const key = String(pair.key.value);
      const p = [...path, key];
      if (isScalar(pair.value) && pair.value.range) visit(pair.value, p, key);
      else walk(pair.value, p, visit);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => walk(item, [...path, i], visit));
  }
}

export function intValue(node: Scalar): number | null {
  const v = node.value;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d{1,15}$/.test(v) && node.type !== 'PLAIN') return Number(v);
  return null;
}

function stringAt(doc: Document.Parsed, path: string[]): string | undefined {
  const v = doc.getIn(path, true) as Node | undefined;
  return isScalar(v) && typeof v.value === 'string' ? v.value : undefined;
}

/** Passes CST tokens through, collecting comment tokens anywhere inside them. */
function* tapComments<T>(tokens: Iterable<T>, out: CommentTok[]): Generator<T> {
  for (const t of tokens) {
    collect(t, out);
    yield t;
  }
}

function collect(tok: unknown, out: CommentTok[]): void {
  if (Array.isArray(tok)) {
    for (const t of tok) collect(t, out);
    return;
  }
  if (tok === null || typeof tok !== 'object') return;
  const t = tok as Record<string, unknown>;
  if (t['type'] === 'comment' && typeof t['source'] === 'string' && typeof t['offset'] === 'number') {
    out.push({ offset: t['offset'], source: t['source'] });
    return;
  }
  for (const k of ['start', 'key', 'sep', 'value', 'end', 'items', 'props']) if (k in t) collect(t[k], out);
}

export function oneLine(msg: string): string {
  return (msg.split('\n')[0] ?? '').trim();
}
