// analyzeYaml's count rule (DESIGN §4): only a plain decimal integer is a replicas value; every other
// spelling of a number is refused, whatever its value.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { analyzeYaml } from '../../../src/git/analyze.ts';

const doc = (v: string) => `kind: Deployment\nmetadata: {name: w}\nspec:\n  replicas: ${v} # kube-latch: prod/Deployment/w\n`;

function read(v: string) {
  const a = analyzeYaml(doc(v));
  assert.ok(a.ok, `parses: ${v}`);
  return { doc: a.docs[0]!, marker: a.markers[0]! };
}

describe('analyzeYaml: which spellings are counts', () => {
  it('property: a plain decimal integer is read as itself, by discovery and by a marker', () => {
    fc.assert(
      fc.property(fc.oneof(fc.nat(1000), fc.nat(999_999_999_999_999)), fc.boolean(), (n, tagged) => {
        const { doc: d, marker } = read(`${tagged ? '!!int ' : ''}${n}`);
        assert.equal(d.replicas?.int, n);
        assert.equal(d.replicasProblem, undefined);
        assert.equal(marker.site?.int, n);
      }),
    );
  });

  it('property: any other spelling of a number is not a count', () => {
    const spellings = (n: number) => [`0${n}`, `+${n}`, `-${n + 1}`, `0x${n.toString(16)}`, `0o${n.toString(8)}`, `${n}.0`, `${n}e0`, `"${n}"`, `'${n}'`, `!!str ${n}`, `!!float ${n}`];
    fc.assert(
      fc.property(fc.nat(1_000_000), fc.nat(10), (n, i) => {
        const v = spellings(n)[i]!;
        const { doc: d, marker } = read(v);
        assert.equal(d.replicas, undefined, v);
        assert.match(d.replicasProblem ?? '', /not a plain decimal integer/, v);
        assert.equal(marker.site, undefined, v);
        assert.match(marker.problem ?? '', /not a plain decimal integer/, v);
      }),
    );
  });
});
