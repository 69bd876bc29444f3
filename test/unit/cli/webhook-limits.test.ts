// `kube-latch webhook`'s limit flags: the defaults are the server's, and bad values are one-line usage errors.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_LIMITS } from '../../../src/admission/server.ts';
import { UsageError, parseFlags } from '../../../src/cli/flags.ts';
import { limitsFromFlags, webhookFlags } from '../../../src/cli/webhook.ts';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => limitsFromFlags(parseFlags(webhookFlags, argv, env));

describe('webhook limit flags', () => {
  test('the flag defaults are DEFAULT_LIMITS', () => {
    assert.deepEqual(parse([]), DEFAULT_LIMITS);
  });

  test('flags and KUBE_LATCH_* variables set each limit', () => {
    assert.deepEqual(
      parse(['--max-connections', '64', '--tls-handshake-timeout', '2s', '--request-timeout', '8s', '--idle-timeout', '3m'], {
        KUBE_LATCH_MAX_BUFFERED_MIB: '16',
        KUBE_LATCH_HEADERS_TIMEOUT: '1500ms',
      }),
      { maxConnections: 64, maxBufferedBytes: 16 * 1024 * 1024, tlsHandshakeTimeoutMs: 2000, headersTimeoutMs: 1500, requestTimeoutMs: 8000, idleTimeoutMs: 180_000 },
    );
  });

  const bad: Array<[string, string[], RegExp]> = [
    ['no connections at all', ['--max-connections', '0'], /--max-connections must be at least 1/],
    ['a budget that cannot hold one 3 MiB review in its large half', ['--max-buffered-mib', '5'], /--max-buffered-mib must be at least 6/],
    ['a timeout of zero (node would read it as "no timeout")', ['--request-timeout', '0'], /--request-timeout must be more than 0/],
    ['a timeout that is not a duration', ['--idle-timeout', 'soon'], /--idle-timeout must be seconds/],
    ['a timeout over an hour', ['--tls-handshake-timeout', '2h'], /at most 3600s/],
    ['headers allowed longer than the whole request', ['--headers-timeout', '10s'], /--headers-timeout \(10s\) must not exceed --request-timeout \(5s\)/],
  ];
  for (const [what, argv, message] of bad) {
    test(`refused: ${what}`, () => {
      assert.throws(() => parse(argv), (e: Error) => e instanceof UsageError && message.test(e.message) && !e.message.includes('\n'));
    });
  }
});
