// The one-line value of the `kube-latch.io/rollout` annotation (docs/rollout.md):
//
//   rev=8 images=app=registry.example/web:1.4.2,proxy=envoy:1.30 milestone=50%
//   complete
//
// In flight (started, 25%, 50%, 75%) and failed, it names the Deployment revision and the images of the
// template that is rolling out, so a reader (or the webhook on a rebuild) can tell whether the
// record is about the template in front of it. A finished rollout is the bare word `complete`: git
// keeps no history in the file, git log has it. Pure: no Kubernetes, no I/O.

export const ROLLOUT_ANNOTATION = 'kube-latch.io/rollout';

/**
 * Longer values are not records: the webhook reads this annotation from requests, and no pod template's
 * images come near it (a value is checked for length before any split or regex).
 */
export const ROLLOUT_MAX_LENGTH = 16_384;

export const MILESTONES = ['started', '25%', '50%', '75%', 'complete', 'failed'] as const;
export type Milestone = (typeof MILESTONES)[number];

/** One container of a pod template: its name and image reference. */
export interface ContainerImage {
  readonly name: string;
  readonly image: string;
}

export type RolloutRecord =
  | { readonly milestone: 'complete' }
  | {
      readonly milestone: Exclude<Milestone, 'complete'>;
      /** deployment.kubernetes.io/revision of the new ReplicaSet */
      readonly revision: number;
      /** init and regular containers, sorted by name */
      readonly images: readonly ContainerImage[];
    };

/** Characters kept as they are in names and images; anything else (`,` `=` `%` spaces…) is %XX-escaped. */
const SAFE = /[^A-Za-z0-9._/:@+-]/gu;

function escape(s: string): string {
  return s.replace(SAFE, (c) =>
    Array.from(new TextEncoder().encode(c))
      .map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`)
      .join(''),
  );
}

function unescape(s: string): string | undefined {
  if (/%(?![0-9A-Fa-f]{2})/.test(s)) return undefined;
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

export function formatImages(images: readonly ContainerImage[]): string {
  return images.map((c) => `${escape(c.name)}=${escape(c.image)}`).join(',');
}

export function formatRollout(r: RolloutRecord): string {
  if (r.milestone === 'complete') return 'complete';
  return `rev=${r.revision} images=${formatImages(r.images)} milestone=${r.milestone}`;
}

/**
 * The record a value holds, or undefined when it is not one (hand-edited, truncated). Fields may come in
 * any order and unknown `key=value` fields are ignored, so a later version can add one.
 */
export function parseRollout(value: string | undefined | null): RolloutRecord | undefined {
  if (typeof value !== 'string' || value.length > ROLLOUT_MAX_LENGTH) return undefined;
  const s = value.trim();
  if (s === 'complete') return { milestone: 'complete' };
  const fields = new Map<string, string>();
  for (const tok of s.split(/\s+/)) {
    const eq = tok.indexOf('=');
    if (eq <= 0) return undefined;
    const key = tok.slice(0, eq);
    if (fields.has(key)) return undefined;
    fields.set(key, tok.slice(eq + 1));
  }
  const milestone = fields.get('milestone');
  if (!isMilestone(milestone)) return undefined;
  if (milestone === 'complete') return { milestone };
  const rev = fields.get('rev');
  if (rev === undefined || !/^[1-9][0-9]{0,15}$/.test(rev) || !Number.isSafeInteger(Number(rev))) return undefined;
  const images = parseImages(fields.get('images'));
  if (!images) return undefined;
  return { milestone, revision: Number(rev), images };
}

function parseImages(s: string | undefined): ContainerImage[] | undefined {
  if (s === undefined) return undefined;
  if (s === '') return [];
  const out: ContainerImage[] = [];
  for (const part of s.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    const name = unescape(part.slice(0, eq));
    const image = unescape(part.slice(eq + 1));
    if (name === undefined || image === undefined) return undefined;
    out.push({ name, image });
  }
  return sortImages(out);
}

export function isMilestone(s: unknown): s is Milestone {
  return typeof s === 'string' && (MILESTONES as readonly string[]).includes(s);
}

interface ContainerLike {
  name?: unknown;
  image?: unknown;
}

/**
 * The images of a pod template (`spec.template` of a Deployment): init containers and containers, sorted
 * by name (names are unique across both in a pod). A container without an image counts as image ''.
 */
export function imagesOf(template: unknown): ContainerImage[] {
  const spec = (template as { spec?: { containers?: unknown; initContainers?: unknown } } | null | undefined)?.spec;
  const out: ContainerImage[] = [];
  for (const list of [spec?.initContainers, spec?.containers]) {
    if (!Array.isArray(list)) continue;
    for (const c of list as ContainerLike[]) {
      if (c === null || typeof c !== 'object' || typeof c.name !== 'string') continue;
      out.push({ name: c.name, image: typeof c.image === 'string' ? c.image : '' });
    }
  }
  return sortImages(out);
}

function sortImages(list: ContainerImage[]): ContainerImage[] {
  return list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function sameImages(a: readonly ContainerImage[], b: readonly ContainerImage[]): boolean {
  return a.length === b.length && a.every((x, i) => x.name === b[i]!.name && x.image === b[i]!.image);
}
