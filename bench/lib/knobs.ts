/** BENCH_QUICK=1: a short smoke run; knobs then take their quick defaults. */
export const quick = process.env['BENCH_QUICK'] === '1';

/** A numeric setting from the environment, else its full (or quick) default. */
export function knob(name: string, full: number, quickValue = full): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return quick ? quickValue : full;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${raw} is not a number`);
  return n;
}
