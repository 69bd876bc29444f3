// A minimal XML 1.0 well-formedness checker for the tests: one root element, properly nested and
// closed tags, unique and quoted attributes, only the predefined or numeric entities, no stray `<` or
// `&`. It returns the element tree, so the tests can query the SVG's structure. Deliberately written
// apart from the SVG writer: it shares no code with what it checks.

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** the element's own character data, entities decoded */
  text: string;
}

export class XmlError extends Error {
  override name = 'XmlError';
}

const NAME = /^[A-Za-z_:][\w.:-]*/;
const ENTITY = /^&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9A-Fa-f]+);/;
const DECODE: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(raw: string, at: number): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '<') throw new XmlError(`"<" in character data at ${at + i}`);
    if (c !== '&') {
      out += c;
      continue;
    }
    const m = ENTITY.exec(raw.slice(i));
    if (!m) throw new XmlError(`bad entity reference at ${at + i}: ${raw.slice(i, i + 12)}`);
    const body = m[0].slice(1, -1);
    out += body.startsWith('#x') ? String.fromCodePoint(parseInt(body.slice(2), 16)) : body.startsWith('#') ? String.fromCodePoint(Number(body.slice(1))) : DECODE[body]!;
    i += m[0].length - 1;
  }
  return out;
}

/** Parses `xml`, throwing XmlError at the first well-formedness violation. */
export function parseXml(xml: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const skipMisc = (prolog: boolean) => {
    for (;;) {
      const ws = /^\s*/.exec(xml.slice(i))![0];
      i += ws.length;
      if (xml.startsWith('<?', i)) {
        if (!prolog && xml.startsWith('<?xml ', i)) throw new XmlError('XML declaration not at the start');
        const end = xml.indexOf('?>', i);
        if (end < 0) throw new XmlError('unterminated processing instruction');
        i = end + 2;
      } else if (xml.startsWith('<!--', i)) {
        const end = xml.indexOf('-->', i);
        if (end < 0) throw new XmlError('unterminated comment');
        i = end + 3;
      } else return;
      prolog = false;
    }
  };
  if (xml.startsWith('\uFEFF')) i = 1;
  skipMisc(true);
  if (xml[i] !== '<') throw new XmlError('no root element');
  while (i < xml.length) {
    if (stack.length === 0 && root) {
      skipMisc(false);
      if (i < xml.length) throw new XmlError(`content after the root element at ${i}`);
      break;
    }
    if (xml.startsWith('<!--', i)) {
      const end = xml.indexOf('-->', i);
      if (end < 0) throw new XmlError('unterminated comment');
      i = end + 3;
    } else if (xml.startsWith('<![CDATA[', i)) {
      const end = xml.indexOf(']]>', i);
      if (end < 0 || stack.length === 0) throw new XmlError('bad CDATA section');
      stack[stack.length - 1]!.text += xml.slice(i + 9, end);
      i = end + 3;
    } else if (xml.startsWith('<!', i) || xml.startsWith('<?', i)) {
      throw new XmlError(`unexpected markup at ${i}: ${xml.slice(i, i + 12)}`);
    } else if (xml.startsWith('</', i)) {
      const m = NAME.exec(xml.slice(i + 2));
      const open = stack.pop();
      if (!m || !open || m[0] !== open.name) throw new XmlError(`mismatched end tag </${m?.[0]}> for <${open?.name}> at ${i}`);
      i += 2 + m[0].length;
      const ws = /^\s*>/.exec(xml.slice(i));
      if (!ws) throw new XmlError(`bad end tag at ${i}`);
      i += ws[0].length;
    } else if (xml[i] === '<') {
      const m = NAME.exec(xml.slice(i + 1));
      if (!m) throw new XmlError(`bad tag name at ${i}`);
      const el: XmlElement = { name: m[0], attrs: {}, children: [], text: '' };
      i += 1 + m[0].length;
      for (;;) {
        const ws = /^\s*/.exec(xml.slice(i))![0];
        i += ws.length;
        if (xml.startsWith('/>', i) || xml[i] === '>') break;
        if (ws === '') throw new XmlError(`attributes need whitespace before them at ${i}`);
        const a = /^([A-Za-z_:][\w.:-]*)\s*=\s*("[^"]*"|'[^']*')/.exec(xml.slice(i));
        if (!a) throw new XmlError(`bad attribute at ${i}: ${xml.slice(i, i + 20)}`);
        if (a[1]! in el.attrs) throw new XmlError(`duplicate attribute ${a[1]} on <${el.name}>`);
        el.attrs[a[1]!] = decode(a[2]!.slice(1, -1), i);
        i += a[0].length;
      }
      if (stack.length === 0) {
        if (root) throw new XmlError('more than one root element');
        root = el;
      } else stack[stack.length - 1]!.children.push(el);
      if (xml.startsWith('/>', i)) i += 2;
      else {
        i += 1;
        stack.push(el);
      }
    } else {
      const end = xml.indexOf('<', i);
      const raw = xml.slice(i, end < 0 ? xml.length : end);
      if (raw.includes(']]>')) throw new XmlError(`"]]>" in character data at ${i}`);
      if (stack.length === 0) {
        if (raw.trim() !== '') throw new XmlError(`text outside the root element at ${i}`);
      } else stack[stack.length - 1]!.text += decode(raw, i);
      i += raw.length;
    }
  }
  if (stack.length > 0) throw new XmlError(`<${stack[stack.length - 1]!.name}> is never closed`);
  if (!root) throw new XmlError('no root element');
  return root;
}

/** Every element of the tree, depth first. */
export function* walk(el: XmlElement): Generator<XmlElement> {
  yield el;
  for (const c of el.children) yield* walk(c);
}

/** Elements whose class list contains `cls`. */
export function byClass(root: XmlElement, cls: string): XmlElement[] {
  return [...walk(root)].filter((e) => (e.attrs['class'] ?? '').split(/\s+/).includes(cls));
}

/** All character data under an element, including its descendants'. */
export function allText(el: XmlElement): string {
  return el.text + el.children.map(allText).join('');
}
