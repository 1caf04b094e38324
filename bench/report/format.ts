// Number formatting for the report. Written out rather than through toLocaleString so
// the output does not depend on the ICU data of the Node that runs it: the same JSON
// must give byte-identical files.

/** 23281 → "23,281" (rounded to an integer). */
export function count(value: number): string {
  const rounded = Math.round(value);
  const digits = String(Math.abs(rounded)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return rounded < 0 ? `-${digits}` : digits;
}

/** A decimal with `places` digits after the point, thousands separated. */
export function decimal(value: number, places: number): string {
  const [whole = '0', fraction] = Math.abs(value).toFixed(places).split('.');
  const sign = value < 0 && Number(`${whole}.${fraction ?? ''}`) !== 0 ? '-' : '';
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return fraction === undefined ? `${sign}${grouped}` : `${sign}${grouped}.${fraction}`;
}

/** Bytes as KB of 1,024 bytes, two places: the unit issue #2's targets are stated in. */
export function kilobytes(bytes: number): string {
  return `${decimal(bytes / 1024, 2)} KB`;
}

/** Milliseconds: one place below 100 ms, whole above. */
export function milliseconds(ms: number): string {
  return ms < 100 ? `${decimal(ms, 1)} ms` : `${count(ms)} ms`;
}

/** A ratio with two places: "0.52×". */
export function times(ratio: number): string {
  return `${decimal(ratio, 2)}×`;
}

/** Percent of one core, two places. */
export function percentOfCore(percent: number): string {
  return `${decimal(percent, 2)} % of a core`;
}

/** "2026-11-23T14:40:35.568Z" → "2026-11-23". */
export function day(iso: string): string {
  return iso.slice(0, 10);
}

/** Code-unit order, the same on every machine (localeCompare follows the locale). */
export function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
