// simulate's output on a real trace with explicit flags is locked byte for byte: a change to the settle
// rule or to the report that moves any figure shows up here. The files were recorded from the code before
// the settle rule moved to src/latch/settle.ts (issue 16), so they also proved the move changed nothing;
// the one change since is the added overProvision (a JSON field, a text line and a table column).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';

const main = new URL('../../../src/cli/main.ts', import.meta.url).pathname;
const clarknet = new URL('../../fixtures/traces/clarknet-1995-replicas.csv', import.meta.url).pathname;
const golden = (name: string) => readFileSync(new URL(`../../fixtures/simulate/${name}`, import.meta.url), 'utf8');

function simulate(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [main, 'simulate', '--trace', clarknet, ...args], (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout)));
  });
}

const cases: Array<{ file: string; args: string[] }> = [
  { file: 'clarknet.up60-down3600.json', args: ['--settle-up', '60', '--settle-down', '3600', '--json'] },
  { file: 'clarknet.up60-down3600.txt', args: ['--settle-up', '60', '--settle-down', '3600'] },
  { file: 'clarknet.up0-down600.json', args: ['--settle-up', '0', '--settle-down', '600', '--json'] },
  {
    file: 'clarknet.step10-bounds.json',
    args: ['--settle-up', '61', '--settle-down', '3599', '--ladder', 'step:10', '--tolerance', '1.4', '--min', '5', '--max', '60', '--json'],
  },
  { file: 'clarknet.initial200.json', args: ['--settle-up', '60', '--settle-down', '3600', '--initial', '200', '--json'] },
  { file: 'clarknet.compare.txt', args: ['--settle-up', '60', '--settle-down', '3600', '--compare', '1-2-5:2,sig1:1.5,decade:3.2,exact:1'] },
];

for (const c of cases) {
  test(`simulate golden: ClarkNet ${c.args.join(' ')} prints ${c.file} byte for byte`, async () => {
    assert.equal(await simulate(c.args), golden(c.file));
  });
}
