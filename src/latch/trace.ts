// Replica traces: CSV with the header `t,replicas`. Parsing is pure (text in, rows out) and a bad row
// names its line, so a trace with one typo in 80,000 rows is easy to fix.

export interface TraceRow {
  /** seconds, non-decreasing */
  t: number;
  /** live replicas from t on */
  v: number;
}

export class TraceError extends Error {
  override name = 'TraceError';
}

export function parseTrace(text: string): TraceRow[] {
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').trim().replace(/^\uFEFF/, '');
  if (!/^t\s*,\s*replicas$/.test(header)) {
    throw new TraceError(`line 1: expected the header "t,replicas", got "${header.slice(0, 40)}"`);
  }
  const rows: TraceRow[] = [];
  let prevT = -Infinity;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const cells = line.split(',');
    if (cells.length !== 2) throw new TraceError(`line ${i + 1}: expected 2 columns "t,replicas", got "${line.slice(0, 40)}"`);
    const ts = cells[0]!.trim();
    const vs = cells[1]!.trim();
    if (!/^\d+(\.\d+)?$/.test(ts)) throw new TraceError(`line ${i + 1}: t "${ts.slice(0, 20)}" is not a non-negative number`);
    if (!/^\d+$/.test(vs)) throw new TraceError(`line ${i + 1}: replicas "${vs.slice(0, 20)}" is not a non-negative integer`);
    const t = Number(ts);
    const v = Number(vs);
    if (!Number.isSafeInteger(v)) throw new TraceError(`line ${i + 1}: replicas ${vs.slice(0, 20)} is too large`);
    if (t < prevT) throw new TraceError(`line ${i + 1}: t ${ts} goes back in time (previous row has t ${prevT})`);
    prevT = t;
    rows.push({ t, v });
  }
  if (rows.length === 0) throw new TraceError('the trace has no rows after the header');
  return rows;
}
