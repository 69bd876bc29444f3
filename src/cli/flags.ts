// Flag parsing shared by every subcommand: node's parseArgs plus a KUBE_LATCH_* environment fallback,
// so that a Helm chart can configure everything through env and a human through flags.
import { parseArgs } from 'node:util';
import { MAX_DURATION_SECONDS, parseDuration } from '../latch/duration.ts';

/** A usage problem: the CLI prints its message on one line and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface FlagSpec {
  /** long name without dashes, e.g. `settle-up` */
  name: string;
  type: 'string' | 'boolean';
  /** repeatable string flag; env gives a comma-separated list */
  multiple?: boolean;
  default?: string | boolean | string[];
  help: string;
  /** placeholder shown in --help, e.g. `SECONDS` */
  arg?: string;
}

export type FlagValues = Record<string, string | boolean | string[] | undefined>;

/** `settle-up` → `KUBE_LATCH_SETTLE_UP` */
export function envName(flag: string): string {
  return 'KUBE_LATCH_' + flag.toUpperCase().replace(/-/g, '_');
}

/**
 * The longest value any flag (or KUBE_LATCH_* variable) may hold, checked before any parsing: a path is
 * at most 4096 bytes on Linux, and every later regex then runs on bounded input.
 */
export const MAX_FLAG_VALUE = 4096;

const helpFlag: FlagSpec = { name: 'help', type: 'boolean', help: 'show this help' };

/**
 * Parses argv against specs. Precedence: flag, then environment, then default.
 * Throws UsageError on unknown flags, missing values or positionals.
 */
export function parseFlags(specs: FlagSpec[], argv: string[], env: NodeJS.ProcessEnv = process.env): FlagValues {
  const all = [...specs, helpFlag];
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const s of all) options[s.name] = s.multiple ? { type: s.type, multiple: true } : { type: s.type };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  } catch (err) {
    throw new UsageError(oneLine((err as Error).message));
  }
  const out: FlagValues = {};
  for (const s of all) {
    const given = parsed.values[s.name];
    for (const value of [given, env[envName(s.name)]].flat()) {
      if (typeof value === 'string' && value.length > MAX_FLAG_VALUE) {
        throw new UsageError(`--${s.name} is ${value.length} characters long; expected at most ${MAX_FLAG_VALUE}`);
      }
    }
    if (given !== undefined) {
      out[s.name] = given as FlagValues[string];
      continue;
    }
    const fromEnv = env[envName(s.name)];
    if (fromEnv !== undefined && fromEnv !== '' && s.name !== 'help') {
      out[s.name] = envValue(s, fromEnv);
      continue;
    }
    out[s.name] = s.default;
  }
  return out;
}

function envValue(s: FlagSpec, raw: string): string | boolean | string[] {
  if (s.type === 'boolean') {
    if (/^(1|true|yes)$/i.test(raw)) return true;
    if (/^(0|false|no)$/i.test(raw)) return false;
    throw new UsageError(`${envName(s.name)} must be true or false, got "${raw}"`);
  }
  if (s.multiple) return raw.split(',').map((x) => x.trim()).filter((x) => x !== '');
  return raw;
}

function oneLine(msg: string): string {
  return msg.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, '');
}

/** Renders --help text for a subcommand. */
export function helpText(usage: string, summary: string, specs: FlagSpec[]): string {
  const rows = specs.map((s) => {
    const left = `  --${s.name}${s.type === 'string' ? ' ' + (s.arg ?? 'VALUE') : ''}`;
    const def = s.default !== undefined && s.default !== false ? ` (default ${JSON.stringify(s.default)})` : '';
    const rep = s.multiple ? ' (repeatable)' : '';
    return `${left.padEnd(34)} ${s.help}${rep}${def}  [${envName(s.name)}]`;
  });
  return `usage: ${usage}\n\n${summary}\n\nflags:\n${rows.join('\n')}\n  --help                             show this help\n`;
}

// Typed accessors: each validates one flag's value and names the flag when it is wrong.

export function str(v: FlagValues, name: string): string | undefined {
  const x = v[name];
  if (x === undefined) return undefined;
  if (typeof x !== 'string') throw new UsageError(`--${name} expects a value`);
  return x;
}

export function requireStr(v: FlagValues, name: string): string {
  const x = str(v, name);
  if (x === undefined || x === '') throw new UsageError(`--${name} is required`);
  return x;
}

export function list(v: FlagValues, name: string): string[] {
  const x = v[name];
  if (x === undefined) return [];
  return Array.isArray(x) ? x : [String(x)];
}

export function bool(v: FlagValues, name: string): boolean {
  return v[name] === true;
}

/** The largest default bound (--min-replicas, --max-replicas): 10 digits, as for the annotations (DESIGN §3). */
export const MAX_BOUND = 9_999_999_999;

/** A non-negative integer (ports, counts, seconds). */
export function int(v: FlagValues, name: string, opts: { min?: number; max?: number } = {}): number | undefined {
  const x = str(v, name);
  if (x === undefined) return undefined;
  if (!/^\d+$/.test(x)) throw new UsageError(`--${name} must be a non-negative integer, got "${x}"`);
  const n = Number(x);
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${name} is too large: "${x}"`);
  if (opts.min !== undefined && n < opts.min) throw new UsageError(`--${name} must be at least ${opts.min}, got ${n}`);
  if (opts.max !== undefined && n > opts.max) throw new UsageError(`--${name} must be at most ${opts.max}, got ${n}`);
  return n;
}

/**
 * Seconds as a non-negative decimal (`60`, `0.5`) or with a unit suffix (`500ms`, `90s`, `5m`, `1h`,
 * `30d`), at most 30 days (DESIGN §4) unless `max` says otherwise (certificate lifetimes, which are
 * no timer).
 */
export function seconds(v: FlagValues, name: string, opts: { max?: number } = {}): number | undefined {
  const x = str(v, name);
  if (x === undefined) return undefined;
  const r = parseDuration(x, opts.max ?? MAX_DURATION_SECONDS);
  if (!r.ok) throw new UsageError(`--${name} ${r.message}`);
  return r.seconds;
}

export function choice<T extends string>(v: FlagValues, name: string, allowed: readonly T[]): T | undefined {
  const x = str(v, name);
  if (x === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(x)) {
    throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got "${x}"`);
  }
  return x as T;
}
