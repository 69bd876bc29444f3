// Records the length of every string a regular expression runs on while fn runs. Every regex operation
// (test, exec, match, replace, split, matchAll) goes through RegExp.prototype.exec (ECMA-262 RegExpExec),
// so wrapping it sees them all, including the ones inside library code. A parser that refuses over-long
// input before any regex shows it here: the longest input any regex saw stays below its cap, whatever
// the input's length. That is linear time by construction, checked without a clock.
export function regexInputs<T>(fn: () => T): { result: T; longest: number; calls: number } {
  const original = RegExp.prototype.exec;
  let longest = 0;
  let calls = 0;
  RegExp.prototype.exec = function (this: RegExp, s: string) {
    calls++;
    longest = Math.max(longest, String(s).length);
    return original.call(this, s);
  };
  try {
    return { result: fn(), longest, calls };
  } finally {
    RegExp.prototype.exec = original;
  }
}
