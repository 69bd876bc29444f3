// Commit messages and PR bodies for written changes (DESIGN §4):
//   one latch:  "kube-latch: prod/Deployment/web replicas 20 → 50"
//   several:    "kube-latch: 3 workloads relatched" (or "kube-latch: 3 changes" when not all are latches)
//   body: one line per change, e.g.
//     "prod/Deployment/web: live 47, old band 10-40, new 50 (was 20) at deploy/web.yaml:12; hpa web: cpu 92% / target 70%, desired 48"
//   (the tail after "; " is why it latched, from the HPA status at that moment, when there is an HPA)
// kube-latch's commits also carry one `Kube-Latch-Change: {json}` trailer per change, so that the next
// update of a PR branch can carry the changes the PR already proposes, and a restarted watcher can tell
// its own latch in git from a human's edit (push mode too), and one `Kube-Latch-Rejected:
// {json}` per change that a human rejected by closing a PR without merging it (never proposed again
// while git still declares what it was computed from).
import { formatBand } from '../latch/index.ts';
import type { Change, ChangeOutcome } from './changes.ts';
import { refKey, type PathKey, type WorkloadRef } from './types.ts';

export interface CommitMessage {
  readonly title: string;
  readonly body: string;
}

const TRAILER = 'Kube-Latch-Change';
const REJECTED = 'Kube-Latch-Rejected';

export function commitMessage(written: readonly ChangeOutcome[]): CommitMessage {
  if (written.length === 0) throw new Error('no written change');
  const lines = written.map(describe);
  if (written.length === 1) {
    const o = written[0]!;
    return { title: `kube-latch: ${refKey(o.change.ref)} ${short(o)}`, body: lines.join('\n') };
  }
  const allLatches = written.every((o) => o.change.type === 'replicas');
  const n = new Set(written.map((o) => refKey(o.change.ref))).size;
  const title = allLatches ? `kube-latch: ${n} workloads relatched` : `kube-latch: ${written.length} changes`;
  return { title, body: lines.join('\n') };
}

/** `title\n\nbody` plus, when asked, the machine-readable trailers (proposed, then rejected changes). */
export function renderMessage(m: CommitMessage, trailers: readonly Change[] = [], rejected: readonly Change[] = []): string {
  const t = [
    ...trailers.map((c) => `${TRAILER}: ${JSON.stringify(toJson(c))}`),
    ...rejected.map((c) => `${REJECTED}: ${JSON.stringify(toJson(c))}`),
  ];
  return `${m.title}\n\n${m.body}\n${t.length ? `\n${t.join('\n')}\n` : ''}`;
}

/** The changes recorded in a commit message's trailers; malformed lines are skipped. */
export function parseTrailers(message: string): Change[] {
  return parseLines(message, TRAILER);
}

/** The rejected changes recorded in a commit message (`Kube-Latch-Rejected` trailers). */
export function parseRejected(message: string): Change[] {
  return parseLines(message, REJECTED);
}

function parseLines(message: string, name: string): Change[] {
  const out: Change[] = [];
  for (const line of message.split('\n')) {
    if (!line.startsWith(`${name}: `)) continue;
    try {
      const c = fromJson(JSON.parse(line.slice(name.length + 2)));
      if (c) out.push(c);
    } catch {
      // skip
    }
  }
  return out;
}

/** One body line: workload, live, old band, new value, old value, file:line, and why (the HPA status). */
export function describe(o: ChangeOutcome): string {
  const c = o.change;
  const at = o.file ? ` at ${o.file}${o.line ? `:${o.line}` : ''}` : '';
  if (c.type === 'replicas') {
    const parts: string[] = [];
    if (c.live !== undefined) parts.push(`live ${c.live}`);
    if (c.band) parts.push(`old band ${formatBand(c.band)}`);
    parts.push(`new ${c.value}${o.from !== undefined ? ` (was ${o.from})` : ''}`);
    return `${refKey(c.ref)}: ${parts.join(', ')}${at}${c.reason ? `; ${oneLine(c.reason)}` : ''}`;
  }
  return `${refKey(c.ref)}: ${pathText(c.path)} = ${String(c.value)}${o.from !== undefined ? ` (was ${String(o.from)})` : ''}${at}`;
}

/** A reason is the HPA's own text: never let it break the one-line-per-workload body or forge a trailer. */
function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

function short(o: ChangeOutcome): string {
  const c = o.change;
  if (c.type === 'replicas') return `replicas ${o.from ?? '?'} → ${c.value}`;
  return `${pathText(c.path)} → ${String(c.value)}`;
}

function pathText(path: readonly PathKey[]): string {
  if (path.length === 3 && path[0] === 'metadata' && path[1] === 'annotations') return `annotation ${String(path[2])}`;
  return path.map((k) => (typeof k === 'number' ? `[${k}]` : k)).join('.');
}

/** Markdown for a PR/MR: a table with one row per change. */
export function pullRequestBody(written: readonly ChangeOutcome[], opts: { cluster?: string; intro?: string } = {}): string {
  const intro = opts.intro ?? `kube-latch proposes new latch points${opts.cluster ? ` for cluster \`${opts.cluster}\`` : ''}: the live replica count left the band declared in git and settled.`;
  const rows = written.map((o) => {
    const c = o.change;
    const where = o.file ? `\`${o.file}${o.line ? `:${o.line}` : ''}\`` : '';
    if (c.type === 'replicas') {
      return `| ${refKey(c.ref)} | ${c.live ?? ''} | ${c.band ? formatBand(c.band) : ''} | ${o.from ?? ''} → **${c.value}** | ${where} |`;
    }
    return `| ${refKey(c.ref)} | | | ${pathText(c.path)}: ${o.from !== undefined ? String(o.from) : ''} → **${String(c.value)}** | ${where} |`;
  });
  return [
    intro,
    '',
    '| workload | live | old band | declared → new | file |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    'kube-latch updates this branch as latches fall due (commits pushed onto it by others are kept, and built on); merge it to accept them all, or close it to reject them: kube-latch will not propose a rejected latch again while git declares the same value.',
    '',
  ].join('\n');
}

interface ChangeJson {
  t: 'replicas' | 'field';
  ns: string;
  kind: string;
  name: string;
  source?: string;
  value: string | number;
  live?: number;
  band?: [number, number];
  declared?: number;
  path?: PathKey[];
}

function toJson(c: Change): ChangeJson {
  const base = { ns: c.ref.namespace, kind: c.ref.kind, name: c.ref.name, ...(c.ref.source ? { source: c.ref.source } : {}) };
  if (c.type === 'field') return { t: 'field', ...base, value: c.value, path: [...c.path] };
  return {
    t: 'replicas',
    ...base,
    value: c.value,
    ...(c.live !== undefined ? { live: c.live } : {}),
    ...(c.band ? { band: [c.band.lo, c.band.hi] as [number, number] } : {}),
    ...(c.declared !== undefined ? { declared: c.declared } : {}),
  };
}

function fromJson(j: unknown): Change | undefined {
  if (typeof j !== 'object' || j === null) return undefined;
  const o = j as Partial<ChangeJson>;
  if (typeof o.ns !== 'string' || typeof o.kind !== 'string' || typeof o.name !== 'string') return undefined;
  const ref: WorkloadRef = { namespace: o.ns, kind: o.kind, name: o.name, ...(typeof o.source === 'string' ? { source: o.source } : {}) };
  if (o.t === 'replicas' && typeof o.value === 'number' && Number.isSafeInteger(o.value) && o.value >= 0) {
    return {
      type: 'replicas',
      ref,
      value: o.value,
      ...(typeof o.live === 'number' ? { live: o.live } : {}),
      ...(Array.isArray(o.band) && o.band.length === 2 ? { band: { lo: Number(o.band[0]), hi: Number(o.band[1]) } } : {}),
      ...(typeof o.declared === 'number' ? { declared: o.declared } : {}),
    };
  }
  if (o.t === 'field' && (typeof o.value === 'string' || typeof o.value === 'number') && Array.isArray(o.path) && o.path.length > 0) {
    if (!o.path.every((k) => typeof k === 'string' || typeof k === 'number')) return undefined;
    return { type: 'field', ref, path: o.path, value: o.value };
  }
  return undefined;
}
