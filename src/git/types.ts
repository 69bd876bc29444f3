// Types shared by the repo index, the edits and the git flows.

/** A workload as git names it: `prod/Deployment/web`, plus its optional kube-latch.io/source annotation. */
export interface WorkloadRef {
  readonly namespace: string;
  /** Kubernetes kind, e.g. `Deployment`; matched case-insensitively against git */
  readonly kind: string;
  readonly name: string;
  /** repo-relative path from the workload's `kube-latch.io/source` annotation */
  readonly source?: string | undefined;
}

/** One step of a path inside a YAML document: a map key or a sequence index. */
export type PathKey = string | number;

/** How a location was found, in the order they are tried (DESIGN §4). */
export type Via = 'marker' | 'source' | 'discovery';

export interface Located {
  readonly state: 'located';
  readonly via: Via;
  /** repo-relative, `/`-separated */
  readonly file: string;
  /** 1-based line of the replicas scalar, or of the line `replicas:` would follow when it must be inserted */
  readonly line: number;
  /** 0-based index of the YAML document in the file */
  readonly docIndex: number;
  /** key path of the scalar inside its document, e.g. ['spec', 'replicas'] or ['web', 'replicaCount'] */
  readonly path: readonly PathKey[];
  /** the declared value in git; 1 when the document has no spec.replicas (Kubernetes defaults it) */
  readonly value: number;
  /** true when spec.replicas is absent and a write must insert it */
  readonly needsInsert: boolean;
}

export interface NotLocated {
  /**
   * ambiguous: several places matched, or the one place is not one plain count reached directly (a marker
   * line without its own replicas key; an alias, anchor or merge key; `020`, `0x14`, `1e2`, a string);
   * unlocated: nothing matched, or the file named cannot be read
   */
  readonly state: 'ambiguous' | 'unlocated';
  readonly via?: Via;
  /** every matching place as `file:line`; empty when nothing matched */
  readonly candidates: readonly string[];
  /** one line for an Event, a log line or a metric label's detail */
  readonly reason: string;
}

export type Location = Located | NotLocated;

/** The document that declares a workload (for edits other than replicas, e.g. annotations). */
export type DocumentLocation =
  | { readonly state: 'located'; readonly via: Via; readonly file: string; readonly line: number; readonly docIndex: number }
  | NotLocated;

/** A file under the configured paths that does not parse as YAML: never edited, reported once per version. */
export interface BrokenFile {
  readonly file: string;
  /** one line: `line:col message` of the first error */
  readonly error: string;
}

/** A `# kube-latch:` comment that designates nothing usable (malformed, or not one plain count on its line). */
export interface MarkerProblem {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

export function refKey(r: Pick<WorkloadRef, 'namespace' | 'kind' | 'name'>): string {
  return `${r.namespace}/${r.kind}/${r.name}`;
}

/** The key markers and discovery match on: the kind is compared case-insensitively. */
export function matchKey(namespace: string, kind: string, name: string): string {
  return `${namespace}/${kind.toLowerCase()}/${name}`;
}
