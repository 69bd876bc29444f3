// A clone of the remote in --work-dir, kept at the tip of the tracked branch, and the write flows:
// commitAndPush() for push mode and commitToBranch() for PR mode. Every flow starts from a fresh fetch
// and hard reset, so a restart, a fresh work dir or a lost race all redo the same idempotent edits, and
// a value already in git is never committed again. A PR branch is rebuilt from the base only while it
// holds nothing but kube-latch's own commits; anyone else's commit on it is built on, never discarded.
//
// Layout of --work-dir: repo/ (the clone), state/ (0700: copies of key files, a GnuPG home).
import { readFileSync } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '../log.ts';
import { copyPrivate, makeScrubber, parseRemote, prepareEnv, type GitAuth, type Remote } from './auth.ts';
import { applyChanges, changeKey, dedupe, type Change, type ChangeOutcome } from './changes.ts';
import { getScalar } from './edit.ts';
import { GitError, classify, runGit, summary, type RunResult } from './exec.ts';
import { commitMessage, parseRejected, parseTrailers, renderMessage, type CommitMessage } from './message.ts';
import { RepoIndex } from './repo-index.ts';

export interface Author {
  readonly name: string;
  readonly email: string;
}

export const DEFAULT_AUTHOR = 'kube-latch <kube-latch@localhost>';

/** `Name <email>` → Author; a clear one-line error otherwise. */
export function parseAuthor(s: string): Author {
  const m = /^\s*([^<>]*?)\s*<([^<>\s]+@[^<>\s]+)>\s*$/.exec(s);
  if (!m || m[1] === '') throw new GitError('config', `--author must look like "Name <email>", got "${s}"`);
  return { name: m[1]!, email: m[2]! };
}

export interface RetryOptions {
  /** push attempts per flow, counting the first (default 8) */
  readonly maxAttempts?: number;
  /** backoff base and cap; attempt n waits a random time in [cap/2, cap], cap = min(max, base·2ⁿ⁻¹) */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

export interface GitRepoOptions {
  /** file://, ssh://, user@host:path or https:// */
  readonly url: string;
  /** the tracked branch, default main */
  readonly branch?: string;
  readonly workDir: string;
  /** scan roots for discovery, repo-relative, default the whole tree */
  readonly paths?: readonly string[];
  /** `Name <email>` or parsed */
  readonly author?: string | Author;
  /** commit signing; gpg keys must not have a passphrase */
  readonly sign?: { readonly format: 'ssh' | 'gpg'; readonly keyFile: string };
  readonly auth?: GitAuth;
  readonly logger?: Logger;
  readonly retry?: RetryOptions;
  /** per git command, default 120 s */
  readonly timeoutMs?: number;
  /** seams for tests */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  /** called between the commit and each push attempt (tests use it to race another writer) */
  readonly beforePush?: (attempt: number) => Promise<void>;
}

export interface SyncResult {
  readonly head: string;
  /** files re-parsed by the index (all of them on the first sync) */
  readonly reindexed: number;
}

export interface WriteOptions {
  /** checked immediately before every push; false stops the flow without pushing (lost leadership) */
  readonly mayPush?: () => boolean;
}

export type PushStatus = 'pushed' | 'unchanged' | 'not-leader';

export interface PushResult {
  /** pushed: one commit is on the remote; unchanged: nothing to commit; not-leader: stopped before a push */
  readonly status: PushStatus;
  readonly commit?: string;
  readonly message?: CommitMessage;
  /** one per distinct change, from the attempt that finished */
  readonly outcomes: readonly ChangeOutcome[];
  /** push attempts made (1 without a race) */
  readonly attempts: number;
}

export interface BranchResult extends Omit<PushResult, 'status'> {
  /** up-to-date: the branch already held exactly this proposal, nothing was pushed */
  readonly status: PushStatus | 'up-to-date';
  readonly branch: string;
  /** every change the branch now proposes (carried ones included), with its outcome against the base */
  readonly proposed: readonly ChangeOutcome[];
  /**
   * Changes withheld because a human rejected them (closed, without merging, a PR that proposed them):
   * the caller's refused ones and, once, the closed PR's own that are not carried over. Status 'rejected'.
   */
  readonly rejected: readonly ChangeOutcome[];
  /** commits on the branch that kube-latch did not write; when any, the new commit went on top of them */
  readonly others: readonly string[];
}

/** The branch's PR when it is no longer open (from the provider): its head commit and how it ended. */
export interface EndedProposal {
  readonly headSha: string;
  readonly merged: boolean;
  /** for messages */
  readonly url: string;
  /**
   * The provider's ref that keeps the PR's head commit after the branch moved or was deleted
   * (GitHub refs/pull/N/head, GitLab refs/merge-requests/N/head): a closed PR's "no" is read from it.
   */
  readonly headRef?: string | undefined;
}

export interface BranchOptions extends WriteOptions {
  /** keep the changes the branch already proposes (default true; false for a one-off PR) */
  readonly carryOver?: boolean;
  /** a branch still at the head of its ended PR starts over from the base; a closed one's changes are rejected */
  readonly ended?: EndedProposal | undefined;
}

/** The newest commit that touched a file (GitRepo.lastCommitTo). */
export interface LastCommit {
  readonly sha: string;
  /** committed by kube-latch's identity, with its trailers */
  readonly byKubeLatch: boolean;
  /** the changes its trailers propose */
  readonly proposed: readonly Change[];
}

/** What a PR branch holds above the base: kube-latch's commits (their trailers) and anyone else's. */
interface BranchHistory {
  /** the changes kube-latch's commits propose, oldest first, later ones replacing earlier */
  readonly carried: readonly Change[];
  /** the rejections they record */
  readonly rejected: readonly Change[];
  /** commits kube-latch did not write (a reviewer's, a merge of the base, a rebase by the provider) */
  readonly others: readonly string[];
}

export class GitRepo {
  readonly remote: Remote;
  readonly branch: string;
  readonly workTree: string;
  private readonly stateDir: string;
  private readonly opts: GitRepoOptions;
  private readonly author: Author;
  private readonly log: Logger | undefined;
  private idx: RepoIndex | undefined;
  private signingConfig: [string, string][] = [];
  private extraEnv: NodeJS.ProcessEnv = {};
  private queue: Promise<unknown> = Promise.resolve();
  /** files written since the last sync: a reset restores them, and the index must follow */
  private dirty = new Set<string>();
  /** the tracked branch's tip at the last sync or landed push */
  private baseTip: string | undefined;
  /** lastCommitTo() per file, valid for one tip */
  private lastCommits = { tip: '', byFile: new Map<string, LastCommit | undefined>() };

  private constructor(opts: GitRepoOptions) {
    this.opts = opts;
    this.remote = parseRemote(opts.url);
    this.branch = opts.branch ?? 'main';
    if (!/^[A-Za-z0-9._/-]+$/.test(this.branch) || this.branch.startsWith('-') || this.branch.includes('..')) {
      throw new GitError('config', `--branch "${this.branch}" is not a valid branch name`);
    }
    const author = opts.author ?? DEFAULT_AUTHOR;
    this.author = typeof author === 'string' ? parseAuthor(author) : author;
    this.workTree = resolve(opts.workDir, 'repo');
    this.stateDir = resolve(opts.workDir, 'state');
    this.log = opts.logger;
  }

  /** Clones (or reuses) the work dir, checks out the remote branch and builds the index. */
  static async open(opts: GitRepoOptions): Promise<GitRepo> {
    const repo = new GitRepo(opts);
    await repo.init();
    await repo.sync();
    return repo;
  }

  /** The repo index at the last sync or write. */
  get index(): RepoIndex {
    if (!this.idx) throw new Error('GitRepo is not synced yet');
    return this.idx;
  }

  /** Fetches the tracked branch, hard-resets the work tree to it, and updates the index incrementally. */
  sync(): Promise<SyncResult> {
    return this.exclusive(() => this.syncUnlocked());
  }

  /**
   * The newest commit of the tracked branch (at the last sync) that touched `file`: whether kube-latch
   * wrote it (its committer identity and trailers, as branchHistory tells) and what its trailers propose.
   * One `git log -1` per file and tip; undefined when no commit touched it.
   */
  lastCommitTo(file: string): Promise<LastCommit | undefined> {
    return this.exclusive(async () => {
      const tip = this.baseTip;
      if (!tip) return undefined;
      if (this.lastCommits.tip !== tip) this.lastCommits = { tip, byFile: new Map() };
      const cache = this.lastCommits.byFile;
      if (cache.has(file)) return cache.get(file);
      const r = await this.must('log', ['log', '-1', '--format=%H%x1f%ce%x1f%B', tip, '--', `:(literal)${file}`]);
      const [sha, committer, body] = r.stdout.split('\x1f');
      const proposed = body === undefined ? [] : parseTrailers(body);
      const last = sha ? { sha, byKubeLatch: this.isOwnCommit(committer, proposed), proposed } : undefined;
      cache.set(file, last);
      return last;
    });
  }

  /** What a PR closed unmerged proposed, read from its head commit (see proposedAt). */
  closedProposal(ended: EndedProposal): Promise<Change[]> {
    return this.exclusive(() => this.proposedAt(ended));
  }

  /**
   * Push mode: sync, apply the changes, and when a file changed commit once and push to the branch.
   * A non-fast-forward push refetches, resets and redoes the edits, with backoff. Throws GitError when
   * the remote is unreachable (retryable: call again later) or the retries run out.
   */
  commitAndPush(changes: readonly Change[], o: WriteOptions = {}): Promise<PushResult> {
    return this.exclusive(() => this.restoringBase(async (landed) => {
      const max = this.opts.retry?.maxAttempts ?? 8;
      for (let attempt = 1; ; attempt++) {
        await this.syncUnlocked();
        const { outcomes, files } = await applyChanges(this.workTree, this.index, changes);
        for (const f of files) this.dirty.add(f);
        const written = outcomes.filter((x) => x.status === 'written');
        if (files.length === 0 || written.length === 0) return { status: 'unchanged', outcomes, attempts: attempt - 1 };
        const message = commitMessage(written);
        // The trailers let a restarted watcher tell its own latch in git from a human's (lastCommitTo).
        const commit = await this.commit(files, renderMessage(message, written.map((x) => x.change)));
        await this.opts.beforePush?.(attempt);
        if (o.mayPush && !o.mayPush()) return { status: 'not-leader', outcomes, attempts: attempt - 1 };
        const r = await this.git(['push', '--porcelain', 'origin', `HEAD:refs/heads/${this.branch}`], true);
        if (r.code === 0) {
          landed();
          this.baseTip = commit;
          this.log?.info({ commit, branch: this.branch, attempts: attempt, changes: written.length }, message.title);
          return { status: 'pushed', commit, message, outcomes, attempts: attempt };
        }
        await this.afterRejectedPush('push', r, attempt, max);
      }
    }));
  }

  /**
   * PR mode: propose `changes` (plus, with carryOver, the changes the branch already proposes and the
   * base does not hold yet) on `branch`. While the branch holds only kube-latch's commits, it is
   * force-updated (with a lease on the tip just fetched) to one commit on top of the tracked branch.
   * When it holds anyone else's commit, the new edits go in a commit on top of the branch tip, pushed
   * without force: nothing on the branch is lost, and a value someone else set there is kept. Nothing is
   * pushed when the base already holds everything or the branch already holds this proposal.
   */
  commitToBranch(changes: readonly Change[], branch: string, o: BranchOptions = {}): Promise<BranchResult> {
    return this.exclusive(() => this.restoringBase(async () => {
      const max = this.opts.retry?.maxAttempts ?? 8;
      const carryOver = o.carryOver !== false;
      for (let attempt = 1; ; attempt++) {
        await this.syncUnlocked();
        const tip = await this.fetchBranch(branch);
        const history: BranchHistory = tip ? await this.branchHistory(tip) : { carried: [], rejected: [], others: [] };
        // A branch still at the head of its closed or merged PR is finished: start over on the base. A
        // merged PR's commits are in the base; a closed one's stay reachable through the provider's
        // refs/pull/N/head (GitLab: refs/merge-requests/N/head), and what it proposed is rejected.
        // A closed PR's "no" is read from its head commit: the branch tip while it still points there,
        // else the provider's head ref (the branch was deleted, or pushed to since).
        const atEnd = tip !== undefined && o.ended?.headSha === tip;
        const ended = atEnd || (o.ended && !o.ended.merged) ? o.ended : undefined;
        const closedNow = !ended || ended.merged ? [] : atEnd ? history.carried : await this.proposedAt(ended);
        // Others' commits are kept after a close too (built on); only a merged PR's branch starts over.
        const merged = atEnd && ended?.merged === true;
        const carried = carryOver && !atEnd ? history.carried : [];
        const others = merged ? [] : history.others;

        // Rejections in force: recorded or just made, still computed from what the base declares, and
        // not superseded by a proposal of another value for the same target.
        const proposesOther = (r: Change) => [...carried, ...changes].some((c) => changeKey(c) === changeKey(r) && c.value !== r.value);
        const rejections = dedupe([...history.rejected, ...closedNow]).filter((r) => this.stillRejected(r) && !proposesOther(r));
        const rejectionOf = (c: Change) => rejections.find((r) => changeKey(r) === changeKey(c) && r.value === c.value);
        const isRejected = (c: Change) => rejectionOf(c) !== undefined;
        const why = (c: Change) =>
          `not proposed: a human closed ${ended && closedNow.includes(rejectionOf(c)!) ? ended.url : 'a pull request that proposed it'} without merging it; ` +
          'kube-latch proposes it again only once git declares another value';
        const rejected: ChangeOutcome[] = [
          ...closedNow.filter((c) => rejections.includes(c) && !changes.some((x) => changeKey(x) === changeKey(c))),
          ...changes.filter(isRejected),
        ].map((change) => ({ change, status: 'rejected', reason: why(change) }));

        const all = dedupe([...carried, ...changes].filter((c) => !isRejected(c)));
        const { outcomes, files } = await applyChanges(this.workTree, this.index, all);
        for (const f of files) this.dirty.add(f);
        // A value the branch already proposes is no new write (DESIGN §4), even when the commit moves.
        const onBranch = (c: Change) => carried.some((k) => changeKey(k) === changeKey(c) && k.value === c.value);
        const asMine = (x: ChangeOutcome): ChangeOutcome =>
          x.status === 'written' && onBranch(x.change) ? { ...x, status: 'proposed', reason: `${branch} already proposes it` } : x;
        const mineOf = (list: readonly ChangeOutcome[]) =>
          changes.map((c) => list.find((x) => x.change === c) ?? rejected.find((x) => x.change === c)!).filter(Boolean).map(asMine);
        const written = outcomes.filter((x) => x.status === 'written');
        const result = { branch, rejected, others, attempts: attempt - 1 };
        if (written.length === 0) return { ...result, status: 'unchanged', outcomes: mineOf(outcomes), proposed: [] };

        if (others.length > 0) {
          const on = await this.onTopOf(tip!, branch, changes, written, history.carried, closedNow.filter((c) => rejections.includes(c)));
          const done = { ...result, outcomes: mineOf(outcomes.map((x) => on.overrides.get(x.change) ?? x)), proposed: on.proposed, ...(on.proposed.length ? { message: commitMessage(on.proposed) } : {}) };
          // Restoring a closed PR's values alone is no proposal: nothing to push for it.
          if (on.files.length === 0 || on.written.length === 0) return { ...done, status: 'up-to-date', commit: tip };
          const commit = await this.commit(on.files, renderMessage(commitMessage(on.written), on.written.map((x) => x.change), rejections));
          await this.opts.beforePush?.(attempt);
          if (o.mayPush && !o.mayPush()) return { ...done, status: 'not-leader' };
          // A plain push of a descendant of the tip: it can never discard a commit.
          const r = await this.git(['push', '--porcelain', 'origin', `HEAD:refs/heads/${branch}`], true);
          if (r.code === 0) {
            this.log?.info({ commit, branch, attempts: attempt, changes: on.written.length, others: others.length }, `${branch} holds commits by others; built on them`);
            return { ...done, status: 'pushed', commit, attempts: attempt };
          }
          await this.afterRejectedPush(`push to ${branch}`, r, attempt, max);
          continue;
        }

        const message = commitMessage(written);
        const done = { ...result, message, outcomes: mineOf(outcomes), proposed: written };
        const commit = await this.commit(files, renderMessage(message, written.map((x) => x.change), rejections));
        if (tip && (await this.sameProposal(tip))) return { ...done, status: 'up-to-date', commit: tip };
        await this.opts.beforePush?.(attempt);
        if (o.mayPush && !o.mayPush()) return { ...done, status: 'not-leader' };
        // The lease is the tip whose history was just read: a commit pushed since by anyone fails it,
        // and the next attempt sees that commit and builds on it.
        const lease = `--force-with-lease=refs/heads/${branch}:${tip ?? ''}`;
        const r = await this.git(['push', '--porcelain', lease, 'origin', `HEAD:refs/heads/${branch}`], true);
        if (r.code === 0) {
          this.log?.info({ commit, branch, attempts: attempt, changes: written.length }, message.title);
          return { ...done, status: 'pushed', commit, attempts: attempt };
        }
        await this.afterRejectedPush(`push to ${branch}`, r, attempt, max);
      }
    }));
  }

  /**
   * The branch holds others' commits: check out its tip and apply there the caller's changes that the
   * base does not hold. A carried change is never re-applied (the tip holds it, or someone changed it on
   * purpose), and a caller's change is applied only where the tip still holds the base's value or the
   * value kube-latch proposed before; another value there is someone's decision and is kept ('stale').
   */
  private async onTopOf(tip: string, branch: string, changes: readonly Change[], written: readonly ChangeOutcome[], history: readonly Change[], withdrawn: readonly Change[] = []) {
    // A value of a closed PR that the tip still holds goes back to the base's: the new proposal must
    // not carry what a human said no to. Read from the base before the tip is checked out.
    const restore = withdrawn.flatMap((r): Change[] => {
      const loc = r.type === 'replicas' ? this.index.locate(r.ref) : undefined;
      return r.type === 'replicas' && loc?.state === 'located' && !loc.needsInsert && loc.value !== r.value ? [{ ...r, value: loc.value, declared: r.value }] : [];
    });
    await this.checkoutUnlocked(tip);
    const lastProposed = new Map(history.map((c) => [changeKey(c), c.value] as const));
    const outcomes = new Map<Change, ChangeOutcome>();
    const toApply = new Map<Change, Change>(restore.map((c) => [c, c] as const));
    for (const x of written) {
      const c = x.change;
      if (!changes.includes(c)) continue;
      if (c.type === 'field') {
        toApply.set(c, c);
        continue;
      }
      const loc = this.index.locate(c.ref);
      if (loc.state !== 'located' || loc.value === c.value) {
        toApply.set(c, { ...c, declared: undefined });
      } else if (loc.value === x.from || loc.value === lastProposed.get(changeKey(c))) {
        toApply.set(c, { ...c, declared: loc.value });
      } else {
        outcomes.set(c, { ...x, status: 'stale', reason: `${branch} holds ${loc.value} at ${loc.file}:${loc.line}, set there by someone else; kept` });
      }
    }
    const applied = await applyChanges(this.workTree, this.index, [...toApply.values()]);
    for (const f of applied.files) this.dirty.add(f);
    const onTip = new Map([...toApply].map(([orig, sent]) => [orig, applied.outcomes.find((a) => a.change === sent)!] as const));
    for (const [orig, a] of onTip) {
      if (restore.includes(orig)) continue;
      if (a.status === 'already') outcomes.set(orig, { ...a, change: orig, status: 'proposed', reason: `${branch} already proposes it` });
      else if (a.status !== 'written') outcomes.set(orig, { ...a, change: orig, reason: `on ${branch}: ${a.reason ?? a.status}` });
    }
    const newly = [...onTip].filter(([orig, a]) => a.status === 'written' && !restore.includes(orig)).map(([orig, a]) => ({ ...a, change: orig }));
    // The proposal is what the branch now holds of everything kube-latch proposes, told against the base.
    const proposed = written.filter((x) => (!outcomes.has(x.change) || outcomes.get(x.change)!.status === 'proposed') && this.holds(x.change));
    return { overrides: outcomes, files: applied.files, written: newly, proposed };
  }

  /** The work tree now holds the change's value. */
  private holds(c: Change): boolean {
    if (c.type === 'replicas') {
      const loc = this.index.locate(c.ref);
      return loc.state === 'located' && loc.value === c.value;
    }
    const doc = this.index.locateDocument(c.ref);
    if (doc.state !== 'located') return false;
    try {
      return getScalar(readFileSync(join(this.workTree, doc.file), 'utf8'), doc.docIndex, c.path) === c.value;
    } catch {
      return false;
    }
  }

  /** A recorded rejection holds while the base still declares what the change was computed from. */
  private stillRejected(r: Change): boolean {
    if (r.type !== 'replicas') return true;
    const loc = this.index.locate(r.ref);
    return loc.state === 'located' && loc.value !== r.value && (r.declared === undefined || loc.value === r.declared);
  }

  /**
   * What a closed PR proposed, read from its head commit: fetched through the provider's head ref
   * (kept after the branch is deleted), else by sha. Unreadable: nothing known, with a warning.
   */
  private async proposedAt(ended: EndedProposal): Promise<Change[]> {
    const local = 'refs/kube-latch/ended-head';
    for (const src of [ended.headRef, ended.headSha]) {
      if (!src) continue;
      const f = await this.git(['fetch', '-q', '--no-tags', 'origin', `+${src}:${local}`], true);
      if (f.code === 0 && (await this.revParse(`${local}^{commit}`)) === ended.headSha) return [...(await this.branchHistory(ended.headSha)).carried];
    }
    this.log?.warn({ pr: ended.url, head: ended.headSha }, 'cannot fetch the head commit of the closed PR; its values are not known as rejected');
    return [];
  }

  /** kube-latch's own commit: its committer identity and at least one of its trailers (a human's edit has neither). */
  private isOwnCommit(committer: string | undefined, proposed: readonly Change[], refused: readonly Change[] = []): boolean {
    return committer === this.author.email && proposed.length + refused.length > 0;
  }

  /** base..tip, oldest first. kube-latch's commits carry its trailers and its committer identity. */
  private async branchHistory(tip: string): Promise<BranchHistory> {
    const r = await this.must('log', ['log', '--reverse', '--format=%H%x1f%ce%x1f%B%x1e', `refs/remotes/origin/${this.branch}..${tip}`]);
    const carried: Change[] = [];
    const rejected: Change[] = [];
    const others: string[] = [];
    for (const rec of r.stdout.split('\x1e')) {
      const [sha, committer, body] = rec.replace(/^\n/, '').split('\x1f');
      if (!sha || body === undefined) continue;
      const proposed = parseTrailers(body);
      const refused = parseRejected(body);
      if (this.isOwnCommit(committer, proposed, refused)) {
        carried.push(...proposed);
        rejected.push(...refused);
      } else others.push(sha);
    }
    return { carried: dedupe(carried), rejected: dedupe(rejected), others };
  }

  /**
   * Runs a write flow, then puts the work tree and the index back on the remote tracked branch unless
   * the flow's commit landed there: a commit that was not pushed (lost leadership, an error, a PR
   * branch) must never show in lookups as git's declared value.
   */
  private async restoringBase<T>(flow: (landed: () => void) => Promise<T>): Promise<T> {
    let onBase = false;
    try {
      return await flow(() => (onBase = true));
    } finally {
      if (onBase) this.dirty.clear();
      else await this.resetUnlocked().catch((err: unknown) => this.log?.warn({ err: (err as Error).message }, 'could not reset the work tree'));
    }
  }

  private async afterRejectedPush(op: string, r: RunResult, attempt: number, max: number): Promise<void> {
    if (!isRace(r)) {
      if (/\[remote rejected\]|pre-receive hook declined|protected branch/i.test(r.stdout + r.stderr)) {
        throw new GitError('rejected', `${op}: the remote refused the push: ${rejection(r)}`);
      }
      throw classify(op, r, this.hostHint());
    }
    if (attempt >= max) throw new GitError('conflict', `${op}: still behind the remote after ${attempt} attempts; will retry later`);
    const delay = this.backoff(attempt);
    this.log?.info({ attempt, delayMs: delay }, `${op}: non-fast-forward, refetching and redoing the edits`);
    await (this.opts.sleep ?? sleep)(delay);
  }

  private backoff(attempt: number): number {
    const base = this.opts.retry?.baseDelayMs ?? 250;
    const cap = Math.min(this.opts.retry?.maxDelayMs ?? 10_000, base * 2 ** (attempt - 1));
    return Math.round(cap / 2 + (this.opts.random ?? Math.random)() * (cap / 2));
  }

  private async init(): Promise<void> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    await mkdir(this.workTree, { recursive: true });
    const isRepo = await exists(join(this.workTree, '.git'));
    if (!isRepo && (await readdir(this.workTree)).length > 0) {
      throw new GitError('config', `--work-dir: ${this.workTree} exists, is not empty and is not a git clone`);
    }
    if (this.opts.sign) await this.setUpSigning(this.opts.sign);
    if (!isRepo) {
      await this.must('init', ['init', '-q']);
      await this.must('init', ['remote', 'add', 'origin', this.remote.url]);
    } else {
      await this.must('init', ['remote', 'set-url', 'origin', this.remote.url]);
    }
  }

  private async setUpSigning(sign: { format: 'ssh' | 'gpg'; keyFile: string }): Promise<void> {
    if (sign.format === 'ssh') {
      const key = join(this.stateDir, 'signing-key');
      await copyPrivate(sign.keyFile, key, '--signing-key');
      this.signingConfig = [['gpg.format', 'ssh'], ['user.signingKey', key], ['commit.gpgSign', 'true']];
      return;
    }
    const home = join(this.stateDir, 'gnupg');
    await mkdir(home, { recursive: true, mode: 0o700 });
    this.extraEnv = { GNUPGHOME: home };
    const gpg = (args: string[]) => runCommand('gpg', ['--batch', '--homedir', home, ...args]);
    const imported = await gpg(['--import', sign.keyFile]);
    if (imported.code !== 0) throw new GitError('config', `--signing-key ${sign.keyFile}: gpg cannot import it: ${summary(imported.stderr)}`);
    const listed = await gpg(['--with-colons', '--list-secret-keys']);
    const fpr = /^fpr:+([0-9A-F]{40,64}):/m.exec(listed.stdout)?.[1];
    if (!fpr) throw new GitError('config', `--signing-key ${sign.keyFile}: no secret key found in it`);
    this.signingConfig = [['gpg.format', 'openpgp'], ['user.signingKey', fpr], ['commit.gpgSign', 'true']];
  }

  private async syncUnlocked(): Promise<SyncResult> {
    const f = await this.git(['fetch', '-q', '--no-tags', 'origin', `+refs/heads/${this.branch}:refs/remotes/origin/${this.branch}`], true);
    if (f.code !== 0) {
      if (/couldn't find remote ref/i.test(f.stderr)) throw new GitError('config', `fetch: branch ${this.branch} does not exist on ${this.remote.printable}`);
      throw classify('fetch', f, this.hostHint());
    }
    return this.resetUnlocked();
  }

  /** Hard-resets the work tree to the last fetched tip of the tracked branch and updates the index. */
  private async resetUnlocked(): Promise<SyncResult> {
    const r = await this.moveTo(['checkout', '-q', '-f', '-B', this.branch, `refs/remotes/origin/${this.branch}`]);
    this.baseTip = r.head;
    return r;
  }

  /** Checks out `rev` detached (a PR branch tip) and updates the index; the next reset goes back. */
  private checkoutUnlocked(rev: string): Promise<SyncResult> {
    return this.moveTo(['checkout', '-q', '-f', '--detach', rev]);
  }

  private async moveTo(checkout: string[]): Promise<SyncResult> {
    const prev = await this.revParse('HEAD');
    await this.must('reset', checkout);
    await this.must('reset', ['clean', '-q', '-ffd']);
    const head = (await this.revParse('HEAD'))!;
    let reindexed: number;
    if (!this.idx) {
      this.idx = await RepoIndex.build(this.workTree, this.opts.paths ?? ['.']);
      reindexed = this.idx.stats.files;
    } else {
      const changed = new Set(this.dirty);
      if (prev && prev !== head) {
        const d = await this.must('diff', ['diff', '--name-only', '-z', '--no-renames', prev, head]);
        for (const p of d.stdout.split('\0')) if (p) changed.add(p);
      }
      reindexed = await this.idx.update(changed);
    }
    this.dirty.clear();
    return { head, reindexed };
  }

  /** The remote tip of `branch` (fetched to refs/remotes/origin/branch), or undefined when it does not exist. */
  private async fetchBranch(branch: string): Promise<string | undefined> {
    const ls = await this.git(['ls-remote', '--heads', 'origin', `refs/heads/${branch}`], true);
    if (ls.code !== 0) throw classify('ls-remote', ls, this.hostHint());
    if (ls.stdout.trim() === '') return undefined;
    const f = await this.git(['fetch', '-q', '--no-tags', 'origin', `+refs/heads/${branch}:refs/remotes/origin/${branch}`], true);
    if (f.code !== 0) throw classify('fetch', f, this.hostHint());
    return this.revParse(`refs/remotes/origin/${branch}`);
  }

  /** The branch tip already proposes exactly HEAD: same tree, same parent (the base tip). */
  private async sameProposal(tip: string): Promise<boolean> {
    const [a, b, p, base] = await Promise.all([
      this.revParse('HEAD^{tree}'),
      this.revParse(`${tip}^{tree}`),
      this.revParse(`${tip}^`),
      this.revParse('HEAD^'),
    ]);
    return a !== undefined && a === b && p === base;
  }

  private async commit(files: readonly string[], message: string): Promise<string> {
    await this.must('add', ['add', '--pathspec-from-file=-', '--pathspec-file-nul', '--'], files.join('\0'));
    const r = await this.git(['commit', '-q', '--no-verify', '-F', '-'], false, message);
    if (r.code !== 0) {
      const kind = this.opts.sign && /sign|gpg|ssh-keygen/i.test(r.stderr) ? 'config' : 'git';
      throw new GitError(kind, `commit: ${summary(r.stderr)}`);
    }
    return (await this.revParse('HEAD'))!;
  }

  private async revParse(rev: string): Promise<string | undefined> {
    const r = await this.git(['rev-parse', '-q', '--verify', rev]);
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  private async must(op: string, args: string[], input?: string): Promise<RunResult> {
    const r = await this.git(args, false, input);
    if (r.code !== 0) throw classify(op, r, this.hostHint());
    return r;
  }

  /** Runs git in the work tree; `network` commands get the auth environment (token read afresh). */
  private async git(args: string[], network = false, input?: string): Promise<RunResult> {
    const cfg: [string, string][] = [
      ['user.name', this.author.name],
      ['user.email', this.author.email],
      ['commit.gpgSign', 'false'],
      ['core.autocrlf', 'false'],
      ...this.signingConfig,
    ];
    const auth = network ? (this.opts.auth ?? {}) : {};
    const { env, secrets } = await prepareEnv(this.remote, auth, this.stateDir, cfg);
    Object.assign(env, this.extraEnv, {
      GIT_AUTHOR_NAME: this.author.name,
      GIT_AUTHOR_EMAIL: this.author.email,
      GIT_COMMITTER_NAME: this.author.name,
      GIT_COMMITTER_EMAIL: this.author.email,
    });
    return runGit(args, {
      cwd: this.workTree,
      env,
      scrub: makeScrubber(secrets),
      ...(input !== undefined ? { input } : {}),
      ...(this.opts.timeoutMs !== undefined ? { timeoutMs: this.opts.timeoutMs } : {}),
    });
  }

  private hostHint(): { host: string; knownHosts?: string } {
    return this.opts.auth?.knownHosts ? { host: this.remote.host, knownHosts: this.opts.auth.knownHosts } : { host: this.remote.host };
  }

  /** Stops the gpg-agent that gpg signing started, if any. */
  async close(): Promise<void> {
    const home = this.extraEnv['GNUPGHOME'];
    if (home) await runCommand('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** A push refused because the remote moved (or a lease went stale): fetch, reset, redo. */
function isRace(r: RunResult): boolean {
  const text = r.stdout + '\n' + r.stderr;
  // `[rejected] (fetch first|non-fast-forward|stale info)`, or a server-side lock lost to a concurrent push
  // ("is at X but expected Y"). Other ref failures (e.g. a branch name clash) are permanent.
  return /\[rejected\].*\((fetch first|non-fast-forward|stale info)\)/.test(text) || /cannot lock ref .* is at [0-9a-f]+ but expected/.test(text);
}

function rejection(r: RunResult): string {
  const line = r.stdout.split('\n').find((l) => l.startsWith('!'));
  return line ? line.split('\t').slice(2).join(' ').trim() : summary(r.stderr);
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A non-git helper (gpg), argv only. */
async function runCommand(cmd: string, args: string[]): Promise<RunResult> {
  const { spawn } = await import('node:child_process');
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => resolvePromise({ code: 127, stdout: '', stderr: e.message, timedOut: false }));
    child.on('close', (code) => resolvePromise({ code: code ?? 1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), timedOut: false }));
  });
}
