// Two pieces of history `kube-latch status` reads, both pure:
// - when live spec.replicas was last written: the newest `time` of a managedFields entry that owns
//   f:spec→f:replicas (an apply, an update), and the HPA's status.lastScaleTime (its /scale writes, whose
//   managedFields entries carry no time);
// - when the watcher last latched a workload, from its commit messages (src/git/message.ts):
//   "kube-latch: ns/Kind/name replicas 20 → 50" or a batch body line "ns/Kind/name: live 47, …, new 50 …".

interface ManagedFieldsEntry {
  readonly time?: string | Date;
  readonly fieldsV1?: unknown;
}

/** ms since the epoch, or undefined when no entry that owns spec.replicas carries a time. */
export function replicasWrittenAt(managedFields: readonly ManagedFieldsEntry[] | undefined): number | undefined {
  let newest: number | undefined;
  for (const e of managedFields ?? []) {
    const spec = (e.fieldsV1 as Record<string, unknown> | undefined)?.['f:spec'] as Record<string, unknown> | undefined;
    if (!spec || !('f:replicas' in spec) || e.time === undefined) continue;
    const t = e.time instanceof Date ? e.time.getTime() : Date.parse(e.time);
    if (Number.isFinite(t) && (newest === undefined || t > newest)) newest = t;
  }
  return newest;
}

interface HpaScaleLike {
  metadata?: { namespace?: string };
  spec?: { scaleTargetRef?: { kind?: string; name?: string } };
  status?: { lastScaleTime?: string | Date };
}

/**
 * The HPA's own record of its last /scale write (status.lastScaleTime), keyed like the workload it
 * targets. Needed because the apiserver leaves `time` unset on managedFields entries written through the
 * scale subresource, which is exactly how an HPA (and `kubectl scale`) writes.
 */
export function hpaScaledAt(hpa: HpaScaleLike): { key: string; t: number } | undefined {
  const ns = hpa.metadata?.namespace;
  const ref = hpa.spec?.scaleTargetRef;
  const raw = hpa.status?.lastScaleTime;
  if (!ns || !ref?.kind || !ref.name || raw === undefined) return undefined;
  const t = raw instanceof Date ? raw.getTime() : Date.parse(raw);
  return Number.isFinite(t) ? { key: `${ns}/${ref.kind}/${ref.name}`, t } : undefined;
}

/** One commit of `git log`, newest first. */
export interface LogEntry {
  /** committer date, ISO 8601 */
  readonly date: string;
  readonly message: string;
}

// A body line of a replicas change always has "new N" (describe() in src/git/message.ts).
const BODY_LINE = /^([^\s/:]+\/[^\s/:]+\/[^\s/:]+): (?:.*, )?new \d+/;
const TITLE = /^kube-latch: ([^\s/:]+\/[^\s/:]+\/[^\s/:]+) replicas /;

/** refKey → date of the newest commit that latched it. Entries must come newest first. */
export function lastLatches(log: readonly LogEntry[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of log) {
    const lines = c.message.split('\n');
    if (!lines[0]?.startsWith('kube-latch: ')) continue;
    const refs = new Set<string>();
    const t = TITLE.exec(lines[0]);
    if (t) refs.add(t[1]!);
    for (const l of lines.slice(1)) {
      const m = BODY_LINE.exec(l);
      if (m) refs.add(m[1]!);
    }
    for (const r of refs) if (!out.has(r)) out.set(r, c.date);
  }
  return out;
}

/** Parses `git log -z --format=%cI%n%B` output. */
export function parseGitLog(out: string): LogEntry[] {
  return out
    .split('\0')
    .map((chunk) => chunk.replace(/^\n+/, ''))
    .filter((chunk) => chunk.trim() !== '')
    .map((chunk) => {
      const nl = chunk.indexOf('\n');
      return nl < 0 ? { date: chunk.trim(), message: '' } : { date: chunk.slice(0, nl).trim(), message: chunk.slice(nl + 1) };
    });
}
