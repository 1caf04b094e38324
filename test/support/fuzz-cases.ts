/**
 * Cases a property-based test runs: its suite default, times PETREL_FUZZ_SCALE, which
 * `npm run fuzz` sets so that the frame properties together run over a million cases
 * (the suite runs the small seed set).
 */
export function fuzzCases(suiteDefault: number): number {
  const scale = Number(process.env['PETREL_FUZZ_SCALE'] ?? 1);
  if (!Number.isFinite(scale) || scale < 1) throw new Error(`PETREL_FUZZ_SCALE=${process.env['PETREL_FUZZ_SCALE']}: a number ≥ 1`);
  return Math.ceil(suiteDefault * scale);
}
