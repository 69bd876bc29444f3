// One YAML file → what the repo index needs from it: per document its kind, name, namespace, source
// annotation and replicas scalar; every `# kube-latch:` marker and the scalar it sits on. Built from the
// `yaml` package's parser (comments come from the CST, so a `# kube-latch:` inside a block string is text,
// not a marker) and its composed documents (node ranges, aliases resolved to "not editable").
//
// A replicas value is usable only when it is a plain decimal integer reached without aliases, anchors or
// merge keys (DESIGN §4): `020`, `0x14`, `1e2` and `"4"` read differently (or as strings) in the YAML
// 1.1 Go parser that Flux and kubectl use, and an edit through an anchor changes every alias of it.
import { Composer, LineCounter, Parser, isAlias, isMap, isScalar, isSeq, type Alias, type Document, type Node, type Scalar, type YAMLMap } from 'yaml';
import { ANNOTATIONS } from '../latch/index.ts';
import { matchKey, type PathKey } from './types.ts';

/** A scalar value that sits under a map key, i.e. something a marker or a lookup can designate. */
export interface ScalarSite {
  readonly docIndex: number;
  readonly path: readonly PathKey[];
  /** 1-based line and column of the value */
  readonly line: number;
  readonly col: number;
  /** the value when it is a plain decimal integer reached without alias, anchor or merge key; else null */
  readonly int: number | null;
  /** why the value cannot be read or written (set exactly when int is null), e.g. `is "020", not a plain decimal integer` */
  readonly problem?: string;
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
  /** set when spec.replicas cannot be read or written (alias, anchor, merge key, not a plain decimal, collection) */
  readonly replicasProblem?: string;
  /** 1-based line the problem is at: the replicas value, else the merge key or alias that hides it */
  readonly problemLine?: number;
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
/** The keys a marker may designate: `replicas`, and Helm's `replicaCount`. */
export const REPLICAS_KEY = /^(replicas|replicaCount)$/;
/** A plain decimal integer as Go's YAML 1.1 parser and YAML 1.2 both read it: no sign, no leading zero. */
const DECIMAL = /^(0|[1-9][0-9]{0,14})$/;
const INT_TAG = 'tag:yaml.org,2002:int';
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
    walk(contents, [], {}, (o) => lc.linePos(o).line, (node, path, key, reach) => {
      const [start, end] = node.range!;
      const pos = lc.linePos(start);
      const problem = siteProblem(node, reach, text.slice(start, end));
      const site: ScalarSite = { docIndex: index, path, line: pos.line, col: pos.col, ...(problem ? { int: null, problem } : { int: Number(text.slice(start, end)) }) };
      if (key === 'replicas') replicasSites.push(site);
      const endLine = lc.linePos(end).line;
      if (markerLines.has(endLine)) markerSites.push({ site: { ...site, line: endLine }, key, end });
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
    const replicas = onLine.filter((s) => REPLICAS_KEY.test(s.key));
    const chosen = replicas[0];
    if (replicas.length > 1) {
      markers.push({ key, target, line, problem: `the marker for ${target} stands on a line with ${replicas.length} replicas keys` });
    } else if (!chosen) {
      const keys = onLine.map((s) => s.key);
      const has = keys.length ? `only ${keys.map((k) => `"${k}"`).join(', ')}` : 'no "key: value" scalar';
      markers.push({ key, target, line, problem: `the marker for ${target} stands on a line with no replicas key of its own (${has})` });
    } else if (chosen.site.problem) {
      markers.push({ key, target, line, problem: `the ${chosen.key} value the marker for ${target} designates ${chosen.site.problem}` });
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
  const lineOf = (n: { range?: [number, number, number] | null } | null | undefined) => (n?.range ? lc.linePos(n.range[0]).line : line);
  const rp = isMap(spec) ? spec.items.find((p) => isScalar(p.key) && p.key.value === 'replicas') : undefined;
  const problem = (what: string, at: number) => {
    info.replicasProblem = what;
    info.problemLine = at;
  };
  if (rp) {
    const site = replicasSites.find((s) => s.path.length === 2 && s.path[0] === 'spec' && s.path[1] === 'replicas');
    if (site && !site.problem) info.replicas = site;
    else if (site) problem(`spec.replicas ${site.problem}`, site.line);
    else problem('spec.replicas is not a scalar', lineOf(rp.value as Node));
  } else if (isAlias(spec)) {
    problem(`spec is an alias (*${spec.source}): its replicas belong to the anchor`, lineOf(spec));
  } else {
    // No spec.replicas of its own: the insert must not hide behind a merge key or change an anchor's users.
    const merge = mergeKey(contents) ?? (isMap(spec) ? mergeKey(spec) : undefined);
    const anchored = contents.anchor ? contents : isMap(spec) && spec.anchor ? spec : undefined;
    if (merge) problem(`spec.replicas may come from the merge key (<<) at line ${lineOf(merge)}`, lineOf(merge));
    else if (anchored) problem(`spec.replicas would be inserted into a map that carries an anchor (&${anchored.anchor})`, lineOf(anchored));
  }
  return info;
}

/** The anchor and merge key above a value: either makes an edit reach more than the one place. */
interface Reach {
  readonly anchor?: { readonly name: string; readonly line: number };
  readonly mergeLine?: number;
}

/**
 * Visits every scalar or alias that is a map value, with its key path and what it is reached through.
 * Aliases are not followed.
 */
function walk(
  node: unknown,
  path: PathKey[],
  reach: Reach,
  lineOf: (offset: number) => number,
  visit: (node: Scalar | Alias, path: PathKey[], key: string, reach: Reach) => void,
  keyOffset?: number,
): void {
  if (!isMap(node) && !isSeq(node)) return;
  let here = reach;
  // A block collection's anchor is written after its key (`common: &common`), above the first item.
  const at = keyOffset ?? node.range?.[0];
  if (node.anchor && !here.anchor && at !== undefined) here = { ...here, anchor: { name: node.anchor, line: lineOf(at) } };
  if (isMap(node)) {
    const merge = mergeKey(node);
    if (merge?.range && here.mergeLine === undefined) here = { ...here, mergeLine: lineOf(merge.range[0]) };
    for (const pair of node.items) {
      if (!isScalar(pair.key) || pair.key.value === null || typeof pair.key.value === 'object') continue;
      const key = String(pair.key.value);
      const p = [...path, key];
      if ((isScalar(pair.value) || isAlias(pair.value)) && pair.value.range) visit(pair.value, p, key, here);
      else walk(pair.value, p, here, lineOf, visit, pair.key.range?.[0]);
    }
  } else {
    node.items.forEach((item, i) => walk(item, [...path, i], here, lineOf, visit));
  }
}

/** The `<<` key of a map, if it has one. */
function mergeKey(map: YAMLMap): Scalar | undefined {
  const pair = map.items.find((p) => isScalar(p.key) && p.key.value === '<<');
  return pair?.key as Scalar | undefined;
}

/** Why a value cannot be taken as a replica count, or undefined when it can. `source` is its text. */
function siteProblem(node: Scalar | Alias, reach: Reach, source: string): string | undefined {
  if (isAlias(node)) return `is an alias (*${node.source}): an edit would have to change its anchor`;
  if (node.anchor) return `carries an anchor (&${node.anchor}): an edit would change every alias of it`;
  if (reach.anchor) return `is inside a map that carries an anchor (&${reach.anchor.name}, line ${reach.anchor.line}): an edit would change every alias of it`;
  if (reach.mergeLine !== undefined) return `is in a map that uses a merge key (<<, line ${reach.mergeLine})`;
  return plainDecimal(node, source) === null ? `is ${oneLine(source)}, not a plain decimal integer` : undefined;
}

/** The value of a plain decimal integer scalar (`20`, `!!int 20`), else null: `020`, `0x14`, `1e2`, `"4"`, `-1`. */
export function plainDecimal(node: Scalar, source: string): number | null {
  if (node.type !== 'PLAIN' || (node.tag !== undefined && node.tag !== INT_TAG) || !DECIMAL.test(source)) return null;
  return Number(source);
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
