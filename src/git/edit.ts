// Surgical YAML edits, pure string → string. The position comes from the `yaml` package's node ranges;
// only the scalar's characters change (its quoting style kept), or one block of lines is inserted at the
// document's own indentation. Nothing is re-stringified, so comments, CRLF, anchors, flow style, key
// order and the other documents keep every byte. Every edit is "set to L": applying it twice is a no-op.
import { isAlias, isMap, isScalar, isSeq, parse, parseAllDocuments, visit, type Document, type Pair, type Scalar, type YAMLMap } from 'yaml';
import { plainDecimal } from './analyze.ts';
import type { PathKey } from './types.ts';

/** The edit cannot be made without touching more than it should; the file is left alone. */
export class EditError extends Error {
  override name = 'EditError';
}

export type ScalarValue = string | number;

/** Sets spec.replicas (or the scalar at `path`, e.g. a marker's) of document `docIndex`, inserting it when absent. */
export function setReplicas(text: string, docIndex: number, value: number, path: readonly PathKey[] = ['spec', 'replicas']): string {
  if (!Number.isSafeInteger(value) || value < 0) throw new EditError(`replicas must be a non-negative integer, got ${value}`);
  return setScalar(text, docIndex, path, value);
}

/**
 * Sets the scalar at `path` in document `docIndex` to `value`. Missing map keys along the path are
 * inserted: in a block map as the first child (right under the parent key's line) at the indentation
 * of the existing children, or after the last item for the document root or a sequence item; in a flow
 * map as the first entry. Throws EditError when the text does not parse, the document or path does not
 * exist, or the path crosses an alias, a block scalar or a non-map.
 */
export function setScalar(text: string, docIndex: number, path: readonly PathKey[], value: ScalarValue): string {
  if (path.length === 0) throw new EditError('empty path');
  const docs = parseAllDocuments(text);
  for (const d of docs) {
    const e = d.errors[0];
    if (e) throw new EditError(`does not parse: ${e.message.split('\n')[0]}`);
  }
  const doc = docs[docIndex];
  if (!doc) throw new EditError(`document ${docIndex} does not exist (the file has ${docs.length})`);
  const at = pathLabel(path);

  let node: unknown = doc.contents;
  let ownerKey: Scalar | null = null;
  for (let i = 0; i < path.length; i++) {
    const key = path[i]!;
    if (isAlias(node)) throw new EditError(`${pathLabel(path.slice(0, i))} is an alias; editing it would change its anchor`);
    if (isMap(node)) {
      const pair = findPair(node, key);
      if (!pair) return insertInto(text, doc, node, ownerKey, path.slice(i), value);
      ownerKey = pair.key as Scalar;
      node = pair.value;
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key];
      ownerKey = null;
      if (node === undefined) throw new EditError(`${pathLabel(path.slice(0, i + 1))} does not exist`);
    } else if (ownerKey && isScalar(node) && node.value === null && node.range && node.range[0] === node.range[1]) {
      return insertUnderEmpty(text, doc, ownerKey, path.slice(i), value);
    } else {
      throw new EditError(`${pathLabel(path.slice(0, i))} is not a map; cannot reach ${at}`);
    }
  }
  if (isAlias(node)) throw new EditError(`${at} is an alias; editing it would change its anchor`);
  if (!isScalar(node) || !node.range) throw new EditError(`${at} is not a scalar`);
  return replaceScalar(text, doc, node, value, at);
}

/** The current scalar at path, or undefined; for checks and tests. */
export function getScalar(text: string, docIndex: number, path: readonly PathKey[]): unknown {
  const doc = parseAllDocuments(text)[docIndex];
  return doc?.getIn(path);
}

function replaceScalar(text: string, doc: Document, node: Scalar, value: ScalarValue, at: string): string {
  if (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED') throw new EditError(`${at} is a block scalar`);
  if (node.anchor && hasAliasTo(doc, node.anchor)) throw new EditError(`${at} carries anchor &${node.anchor}, which is used elsewhere`);
  const [start, end] = node.range!;
  if (typeof value === 'number') {
    // A count is only ever written over a plain decimal integer: `020`, `0x14`, `1e2` or `"4"` would keep
    // meaning something else to some parser (DESIGN §4), so the index never locates one.
    const old = plainDecimal(node, text.slice(start, end));
    if (old === null) throw new EditError(`${at} is ${text.slice(start, end)}, not a plain decimal integer`);
    return old === value ? text : text.slice(0, start) + String(value) + text.slice(end);
  }
  if (node.value === value) return text;
  let src: string;
  if (node.type === 'QUOTE_SINGLE' && !/[\n\r]/.test(value)) {
    src = `'${value.replace(/'/g, "''")}'`;
  } else if (node.type === 'QUOTE_DOUBLE') {
    src = JSON.stringify(value);
  } else {
    src = renderString(value);
  }
  return text.slice(0, start) + src + text.slice(end);
}

function insertInto(text: string, doc: Document, map: YAMLMap, ownerKey: Scalar | null, rest: readonly PathKey[], value: ScalarValue): string {
  assertKeys(rest);
  if (map.flow) {
    const entry = flowEntry(rest, value);
    const first = map.items[0];
    if (!first) {
      const open = map.range![0];
      if (text[open] !== '{') throw new EditError('unexpected flow map source');
      return text.slice(0, open + 1) + entry + text.slice(open + 1);
    }
    const at = (first.key as Scalar | null)?.range?.[0];
    if (at === undefined) throw new EditError('flow map without a plain first key');
    return text.slice(0, at) + entry + ', ' + text.slice(at);
  }
  const firstKey = map.items[0]?.key as Scalar | undefined;
  if (!firstKey?.range) throw new EditError('block map without a scalar first key');
  const indent = column(text, firstKey.range[0]);
  let pos: number;
  if (ownerKey?.range) {
    pos = afterLine(text, ownerKey.range[1]);
  } else {
    const last = map.items.at(-1)!;
    const lastNode = (last.value ?? last.key) as { range?: [number, number, number] } | null;
    pos = afterLine(text, lastNode?.range?.[1] ?? firstKey.range[1]);
  }
  return insertLines(text, pos, indent, indentStep(text, doc), rest, value);
}

/** `spec:` with nothing after it: the new keys go on the next line, one step deeper than the key. */
function insertUnderEmpty(text: string, doc: Document, ownerKey: Scalar, rest: readonly PathKey[], value: ScalarValue): string {
  assertKeys(rest);
  const step = indentStep(text, doc);
  return insertLines(text, afterLine(text, ownerKey.range![1]), column(text, ownerKey.range![0]) + step, step, rest, value);
}

function insertLines(text: string, pos: number, indent: number, step: number, rest: readonly PathKey[], value: ScalarValue): string {
  const eol = eolAt(text, pos);
  const lead = pos === text.length && text.length > 0 && !text.endsWith('\n') ? eol : '';
  let out = '';
  rest.forEach((k, j) => {
    const pad = ' '.repeat(indent + j * step);
    out += j < rest.length - 1 ? `${pad}${renderString(String(k))}:${eol}` : `${pad}${renderString(String(k))}: ${renderValue(value)}${eol}`;
  });
  return text.slice(0, pos) + lead + out + text.slice(pos);
}

function flowEntry(rest: readonly PathKey[], value: ScalarValue): string {
  const [k, ...more] = rest;
  return `${renderString(String(k))}: ${more.length ? `{${flowEntry(more, value)}}` : renderValue(value)}`;
}

function assertKeys(rest: readonly PathKey[]): void {
  if (rest.some((k) => typeof k !== 'string')) throw new EditError(`cannot insert a sequence index (${pathLabel(rest)})`);
}

function findPair(map: YAMLMap, key: PathKey): Pair | undefined {
  return map.items.find((p) => isScalar(p.key) && p.key.value !== null && String(p.key.value) === String(key));
}

function hasAliasTo(doc: Document, anchor: string): boolean {
  let found = false;
  visit(doc, {
    Alias(_k, a) {
      if (a.source === anchor) {
        found = true;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}

/** The indentation step the document already uses: a nested block map's children minus its key. */
function indentStep(text: string, doc: Document): number {
  let step = 0;
  visit(doc, {
    Pair(_k, pair) {
      const v = pair.value;
      const k = pair.key as Scalar | null;
      if (isMap(v) && !v.flow && k?.range) {
        const child = v.items[0]?.key as Scalar | undefined;
        if (child?.range) {
          const d = column(text, child.range[0]) - column(text, k.range[0]);
          if (d > 0) {
            step = d;
            return visit.BREAK;
          }
        }
      }
      return undefined;
    },
  });
  return step || 2;
}

/** A string as YAML: plain when it reads back as the same string in block and flow context, else double-quoted. */
export function renderString(s: string): string {
  const plain =
    /^[A-Za-z0-9_./][A-Za-z0-9 _./%+=@:()-]*$/.test(s) && !s.endsWith(' ') && !s.endsWith(':') && !s.includes(': ') && !s.includes(' #');
  if (plain) {
    try {
      if (parse(s) === s) return s;
    } catch {
      // not plain then
    }
  }
  return JSON.stringify(s);
}

function renderValue(v: ScalarValue): string {
  return typeof v === 'number' ? String(v) : renderString(v);
}

function column(text: string, offset: number): number {
  return offset - (text.lastIndexOf('\n', offset - 1) + 1);
}

/** The offset of the start of the line after the one holding `offset`. */
function afterLine(text: string, offset: number): number {
  if (offset > 0 && text[offset - 1] === '\n') return offset;
  const nl = text.indexOf('\n', offset);
  return nl === -1 ? text.length : nl + 1;
}

/** The line ending of the line just before pos, else the file's first, else LF. */
function eolAt(text: string, pos: number): string {
  if (pos > 0 && text[pos - 1] === '\n') return text[pos - 2] === '\r' ? '\r\n' : '\n';
  const nl = text.indexOf('\n');
  return nl > 0 && text[nl - 1] === '\r' ? '\r\n' : '\n';
}

function pathLabel(path: readonly PathKey[]): string {
  return path.length ? path.map((k) => (typeof k === 'number' ? `[${k}]` : k)).join('.') : '(document root)';
}
