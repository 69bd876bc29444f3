// Which workloads resolve to which replicas value in git. Two workloads whose locators reach the same
// YAML scalar (a kustomize base without a namespace, one values file named by two source annotations)
// would overwrite each other's latches, the last write winning: DESIGN §4 makes both ambiguous and
// writes neither. Places are `file:line`: a marker line holds one replicas key (else it is ambiguous
// already) and a document's replicas line is its own, so one line is one scalar.
export class PlaceClaims {
  private readonly byWorkload = new Map<string, string>();
  private readonly byPlace = new Map<string, Set<string>>();

  /**
   * Records where `workload` resolves now (undefined: nowhere). Returns the other workloads whose
   * company changed (they shared the old place or share the new one), so the caller re-evaluates them.
   */
  claim(workload: string, place: string | undefined): string[] {
    const old = this.byWorkload.get(workload);
    if (old === place) return [];
    const affected: string[] = [];
    if (old !== undefined) {
      const s = this.byPlace.get(old)!;
      s.delete(workload);
      if (s.size === 0) this.byPlace.delete(old);
      affected.push(...s);
      this.byWorkload.delete(workload);
    }
    if (place !== undefined) {
      let s = this.byPlace.get(place);
      if (!s) this.byPlace.set(place, (s = new Set()));
      affected.push(...s);
      s.add(workload);
      this.byWorkload.set(workload, place);
    }
    return affected;
  }

  /** The other workloads that resolve to the same place as `workload`, sorted. */
  sharers(workload: string): string[] {
    const place = this.byWorkload.get(workload);
    if (place === undefined) return [];
    return [...this.byPlace.get(place)!].filter((w) => w !== workload).sort();
  }
}
