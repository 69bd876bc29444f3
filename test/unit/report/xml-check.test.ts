// The well-formedness checker the SVG tests rely on must itself reject what a browser would reject.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allText, byClass, parseXml, XmlError } from './xml-check.ts';

const good: string[] = [
  '<svg/>',
  '<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"><g class="a b"><path d="M0 0"/></g></svg>\n',
  "<a x='1' y=\"2\">t &amp; &lt;u&gt; &#215; &#xd7;<!-- c --><b>ok</b></a>",
  '<a><![CDATA[ <not a tag> ]]></a>',
];
const bad: Array<[string, RegExp]> = [
  ['', /no root/],
  ['<a>', /never closed/],
  ['<a></b>', /mismatched/],
  ['<a><b></a></b>', /mismatched/],
  ['<a/><b/>', /content after the root/],
  ['<a x="1" x="2"/>', /duplicate attribute/],
  ['<a x=1/>', /bad attribute/],
  ['<a x="1"y="2"/>', /whitespace/],
  ['<a>AT&T</a>', /bad entity/],
  ['<a>&nbsp;</a>', /bad entity/],
  ['<a x="<"/>', /"<"/],
  ['text<a/>', /no root/],
  ['<a/>tail', /content after the root/],
  ['<a>]]></a>', /\]\]>/],
  ['<a><!DOCTYPE x></a>', /unexpected markup/],
  ['<a><!-- open</a>', /unterminated comment/],
];

for (const xml of good) {
  test(`well-formed: ${JSON.stringify(xml.slice(0, 50))}`, () => {
    assert.doesNotThrow(() => parseXml(xml));
  });
}
for (const [xml, re] of bad) {
  test(`rejected: ${JSON.stringify(xml)}`, () => {
    assert.throws(() => parseXml(xml), (e: unknown) => e instanceof XmlError && re.test(e.message));
  });
}

test('the tree exposes names, attributes, classes and decoded text', () => {
  const root = parseXml('<svg viewBox="0 0 10 10"><text class="t x">a &amp; b</text><g><text class="t">c</text></g></svg>');
  assert.equal(root.name, 'svg');
  assert.equal(root.attrs['viewBox'], '0 0 10 10');
  assert.equal(byClass(root, 't').length, 2);
  assert.equal(byClass(root, 'x').length, 1);
  assert.equal(allText(root), 'a & bc');
});
