// An in-memory RolloutGit: a tracked branch with a file history, commits made by write(), and the PRs
// that propose() opens. Locating is discovery by kind/name/namespace, as src/git does without markers.
import type { FieldChange } from '../../../src/git/changes.ts';
import { setScalar } from '../../../src/git/edit.ts';
import type { DocumentLocation, WorkloadRef } from '../../../src/git/types.ts';
import type { ProposeResult, RolloutGit, RolloutWriteResult } from '../../../src/rollout/git.ts';
import { findWorkloadDocument } from '../../../src/rollout/revert.ts';

export interface FakeCommit {
  sha: string;
  files: Map<string, string>;
  message: string;
}

export interface FakeProposal {
  branch: string;
  title: string;
  body: string;
  changes: FieldChange[];
  /** the file texts the PR branch would hold */
  files: Map<string, string>;
}

export class FakeRolloutGit implements RolloutGit {
  readonly mode: 'push' | 'pr';
  readonly cluster = 'eu-1';
  /** newest last */
  readonly commits: FakeCommit[] = [];
  readonly proposals: FakeProposal[] = [];
  /** pr mode: what the cluster PR proposes, per change key */
  readonly clusterPr = new Map<string, FieldChange>();
  syncs = 0;
  failSyncs = 0;
  failWrites = 0;
  notLeaderOnWrite = false;
  /** when set, write() waits for it (a push in progress) */
  writeGate: Promise<void> | undefined;

  constructor(mode: 'push' | 'pr', files: Record<string, string>) {
    this.mode = mode;
    this.commit(new Map(Object.entries(files)), 'seed');
  }

  get tip(): Map<string, string> {
    return this.commits.at(-1)!.files;
  }

  /** Another writer's commit (a human, GitOps). */
  commit(files: Map<string, string>, message: string): string {
    const sha = (this.commits.length + 1).toString(16).padStart(40, '0');
    this.commits.push({ sha, files: new Map(files), message });
    return sha;
  }

  humanEdit(file: string, text: string, message = 'human edit'): string {
    const files = new Map(this.tip);
    files.set(file, text);
    return this.commit(files, message);
  }

  async sync(): Promise<void> {
    this.syncs++;
    if (this.failSyncs > 0) {
      this.failSyncs--;
      throw new Error('fetch: remote unreachable');
    }
  }

  locate(ref: WorkloadRef): DocumentLocation {
    const hits: { file: string; docIndex: number }[] = [];
    for (const [file, text] of this.tip) {
      const d = findWorkloadDocument(text, ref);
      if (d) hits.push({ file, docIndex: d.docIndex });
    }
    if (hits.length === 1) return { state: 'located', via: 'discovery', file: hits[0]!.file, line: 1, docIndex: hits[0]!.docIndex };
    return { state: hits.length ? 'ambiguous' : 'unlocated', candidates: hits.map((h) => `${h.file}:1`), reason: hits.length ? 'several documents match' : 'no document matches' };
  }

  async show(rev: string, file: string): Promise<string | undefined> {
    const c = rev === 'tip' ? this.commits.at(-1) : this.commits.find((x) => x.sha === rev);
    return c?.files.get(file);
  }

  async log(file: string, max: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = this.commits.length - 1; i >= 0 && out.length < max; i--) {
      const before = i > 0 ? this.commits[i - 1]!.files.get(file) : undefined;
      if (this.commits[i]!.files.get(file) !== before) out.push(this.commits[i]!.sha);
    }
    return out;
  }

  private apply(files: Map<string, string>, changes: readonly FieldChange[]): { written: FieldChange[]; already: FieldChange[] } {
    const written: FieldChange[] = [];
    const already: FieldChange[] = [];
    for (const c of changes) {
      const loc = this.locate(c.ref);
      if (loc.state !== 'located') continue;
      const text = files.get(loc.file)!;
      const next = setScalar(text, loc.docIndex, c.path, c.value);
      if (next === text) already.push(c);
      else {
        files.set(loc.file, next);
        written.push(c);
      }
    }
    return { written, already };
  }

  async write(changes: readonly FieldChange[], mayPush: () => boolean): Promise<RolloutWriteResult> {
    await this.writeGate;
    if (this.failWrites > 0) {
      this.failWrites--;
      return { ok: false, error: 'push: remote unreachable' };
    }
    const files = new Map(this.tip);
    const r = this.apply(files, changes);
    if (r.written.length === 0) return { ok: true, ...r };
    if (this.notLeaderOnWrite || !mayPush()) return { ok: false, notLeader: true };
    if (this.mode === 'pr') {
      for (const c of r.written) this.clusterPr.set(`${c.ref.name}#${c.path.join('.')}`, c);
      return { ok: true, ...r, revision: 'https://github.example/acme/deploy/pull/1' };
    }
    const sha = this.commit(files, `kube-latch: ${r.written.length} changes`);
    return { ok: true, ...r, revision: sha };
  }

  async propose(changes: readonly FieldChange[], o: { branch: string; title: string; body: string; mayPush: () => boolean }): Promise<ProposeResult> {
    if (!o.mayPush()) return { ok: false, notLeader: true };
    const files = new Map(this.tip);
    this.apply(files, changes);
    this.proposals.push({ branch: o.branch, title: o.title, body: o.body, changes: [...changes], files });
    return { ok: true, status: 'pushed', url: `https://github.example/acme/deploy/pull/${this.proposals.length + 1}` };
  }

  /** The rollout annotation of prod/web in the tip's apps/web.yaml. */
  annotation(file = 'apps/web.yaml'): string | undefined {
    const m = /kube-latch\.io\/rollout: (.*)/.exec(this.tip.get(file) ?? '');
    return m ? m[1]!.replace(/^"|"$/g, '') : undefined;
  }
}
