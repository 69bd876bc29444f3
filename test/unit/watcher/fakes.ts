// In-memory stand-ins for the engine's seams: git, leadership and the Event sink.
import { pino } from 'pino';
import type {
  DueLatch,
  EventSink,
  EventTarget,
  LatchMarker,
  GitState,
  Leadership,
  Lookup,
  RefusedLatch,
  WorkloadObservation,
  WorkloadRef,
  WriteOptions,
  WriteResult,
} from '../../../src/watcher/types.ts';
import { refKey } from '../../../src/watcher/types.ts';

export const silent = pino({ level: 'silent' });

/** A git remote as a map from workload to declared replicas (null: no replicas line). */
export class FakeGit implements GitState {
  readonly declared = new Map<string, number | null>();
  readonly ambiguous = new Map<string, string[]>();
  /** workload key → the file:line its lookup returns (default `ns/name.yaml:7`) */
  readonly places = new Map<string, { file: string; line: number }>();
  /** workload key → the refusal write() reports for its latch instead of writing it */
  readonly refuse = new Map<string, Omit<RefusedLatch, 'latch'>>();
  readonly writes: DueLatch[][] = [];
  /** while true, refresh and write fail as if the remote were unreachable */
  down = false;
  refreshes = 0;
  pushAttempts = 0;
  /** called inside write, before the push: lets a test change the world mid-write */
  beforePush: (() => void) | undefined;
  /** file → the latches kube-latch's newest commit to it proposes; absent: someone else wrote it */
  readonly own = new Map<string, { ref: WorkloadRef; to: number }[]>();
  /** the files ownLatches was asked about, in order */
  readonly ownAsked: string[] = [];
  private seq = 0;

  set(ref: WorkloadRef, value: number | null): void {
    this.declared.set(refKey(ref), value);
  }

  get(ref: WorkloadRef): number | null | undefined {
    return this.declared.get(refKey(ref));
  }

  async refresh(): Promise<void> {
    this.refreshes++;
    if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:1');
  }

  async ownLatches(file: string): Promise<readonly { ref: WorkloadRef; to: number }[]> {
    this.ownAsked.push(file);
    return this.own.get(file) ?? [];
  }

  lookup(w: WorkloadRef & { source?: string }): Lookup {
    const key = refKey(w);
    const amb = this.ambiguous.get(key);
    if (amb) return { found: false, reason: 'ambiguous', candidates: amb };
    if (!this.declared.has(key)) return { found: false, reason: 'none', candidates: [] };
    const place = this.places.get(key) ?? { file: `${w.namespace}/${w.name}.yaml`, line: 7 };
    return { found: true, declared: this.declared.get(key)!, ...place, via: 'discovery' };
  }

  async write(latches: readonly DueLatch[], opts: WriteOptions): Promise<WriteResult> {
    this.beforePush?.();
    this.pushAttempts++;
    if (!opts.mayPush()) return { ok: false, notLeader: true };
    if (this.down) return { ok: false, error: 'push failed: connect ECONNREFUSED 127.0.0.1:1' };
    const written: DueLatch[] = [];
    const unchanged: DueLatch[] = [];
    const refused: RefusedLatch[] = [];
    for (const l of latches) {
      const no = this.refuse.get(refKey(l.ref));
      if (no) refused.push({ latch: l, ...no });
      else if (this.get(l.ref) === l.to) unchanged.push(l);
      else {
        this.set(l.ref, l.to);
        written.push(l);
      }
    }
    if (written.length === 0) return { ok: true, written, unchanged, refused };
    this.writes.push(written);
    return { ok: true, written, unchanged, refused, revision: `c${++this.seq}` };
  }
}

export class FakeLeadership implements Leadership {
  private leader: boolean;
  private readonly cbs: Array<(l: boolean) => void> = [];
  constructor(leader = true) {
    this.leader = leader;
  }
  isLeader(): boolean {
    return this.leader;
  }
  onChange(cb: (l: boolean) => void): void {
    this.cbs.push(cb);
  }
  set(leader: boolean): void {
    this.leader = leader;
    for (const cb of this.cbs) cb(leader);
  }
}

export interface RecordedEvent {
  target: EventTarget;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export class FakeEvents implements EventSink {
  readonly events: RecordedEvent[] = [];
  record(target: EventTarget, ev: { type: 'Normal' | 'Warning'; reason: string; message: string }): void {
    this.events.push({ target, ...ev });
  }
  reasons(): string[] {
    return [...new Set(this.events.map((e) => e.reason))];
  }
}

/** Records each latch marker the engine sets. */
export class FakeMarker implements LatchMarker {
  readonly marks: Array<{ target: EventTarget; latchPoint: number }> = [];
  readonly unmarks: EventTarget[] = [];
  async mark(target: EventTarget, latchPoint: number): Promise<void> {
    this.marks.push({ target, latchPoint });
  }
  async unmark(target: EventTarget): Promise<void> {
    this.unmarks.push(target);
  }
}

export function deployment(name: string, replicas: number, annotations: Record<string, string> = {}, namespace = 'prod'): WorkloadObservation {
  return { ref: { namespace, kind: 'Deployment', name }, apiVersion: 'apps/v1', uid: `uid-${namespace}-${name}`, replicas, annotations };
}
