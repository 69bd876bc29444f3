// A write that is not an apply and leaves out spec.replicas reaches the webhook as replicas 1: the
// apiserver defaults the missing field before admission, so the request is byte for byte one that declares
// 1. A Helm 3 upgrade whose chart stopped rendering `replicas` (the `helm create` scaffold with
// `autoscaling.enabled`) and `kubectl replace` of a manifest without it both look like that. Nothing in
// the request tells the two apart, so git's 1 wins (DESIGN §3, rule out-of-band), and a workload the HPA
// had at 17 drops to 1. This module does not change that decision; it only names the case when the sign
// is strong. The target is then what the request sent, so DESIGN §3 allows no warning: the decision
// carries this text in its audit annotation `note` instead. The signs:
// - the request is not an apply (DESIGN §3 (c)): a server-side apply shows a dropped field by ownership,
//   a client-side apply by last-applied, and both are then *undeclared*, never 1;
// - it declares exactly 1, and git's remembered value is not 1 (a real 1 in git would have been seen);
// - the live count is above band(1), so the write is a drop of magnitude, not a step;
// - no bound lifts the target above 1 (then min-replicas already protects, and the decision's own
//   warning says so).
// Pure: no I/O; the admission decision calls it with what it has already computed.
import { band, type Ratio } from '../latch/index.ts';

export interface DefaultedOneInput {
  /** how the request declares replicas (DESIGN §3 (a), (b) or (c)) */
  readonly declaredBy: 'server-side-apply' | 'client-side-apply' | 'other-write';
  /** the declared value d of this request (sent) */
  readonly declared: number;
  /** oldObject.spec.replicas */
  readonly live: number;
  /** oldObject's kube-latch.io/declared, if any */
  readonly remembered: number | undefined;
  /** the replicas the decision writes */
  readonly target: number;
  readonly tolerance: Ratio;
}

/** The note (under 120 characters for any int32 count) when a non-apply write may have dropped replicas. */
export function defaultedOneWarning(i: DefaultedOneInput): string | undefined {
  if (i.declaredBy !== 'other-write' || i.declared !== 1 || i.target !== 1) return undefined;
  if (i.remembered === 1) return undefined;
  if (i.live <= band(1, i.tolerance).hi) return undefined;
  return `kube-latch: replicas ${i.live} → 1 may be the default of a dropped replicas field; kube-latch.io/min-replicas guards`;
}
