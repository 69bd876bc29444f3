// Adversarial input families for parsers, each exactly `n` characters: the shapes that make a
// backtracking regex super-linear (long zeros, long digits, nested repetitions, whitespace runs, URL
// and userinfo floods). Shared by test/unit/parsers and bench/parsers.ts.
export function adversarialFamilies(n = 200_000): Record<string, string> {
  const fill = (unit: string, prefix = '', suffix = '') => prefix + unit.repeat(Math.ceil((n - prefix.length - suffix.length) / unit.length)).slice(0, n - prefix.length - suffix.length) + suffix;
  return {
    'long zeros': fill('0', '1.'),
    'long zeros then a one': fill('0', '1.', '1'),
    'long digits': fill('9'),
    'digits then a letter': fill('1', '', 'x'),
    'nested repetition (1.1.1…)': fill('1.'),
    'nested repetition (step:step:…)': fill('step:'),
    'nested repetition (a-a-a…)': fill('a-'),
    'whitespace run': fill(' ', '', '2'),
    'newline run': fill('\n', '', 'x'),
    'mixed blanks': fill(' \t\n\r'),
    'URL flood (a://)': fill('a://'),
    'userinfo flood (https://a@a@…)': fill('a@', 'https://'),
    'host key flood': fill('host key for ', '', 'x'),
    'percent run': fill('%'),
    'key=value run': fill('k=v '),
  };
}
