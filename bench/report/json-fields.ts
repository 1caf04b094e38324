// Defensive reads of benchmark results. The JSON under bench/results/ is written by
// several benchmarks over time and may lack a field or hold another shape; a report
// row then says "not measured" instead of the generator throwing or printing NaN.

export type JsonRecord = Record<string, unknown>;

export function isRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value at a path of keys (strings) and list indexes (numbers), or undefined. */
export function at(value: unknown, ...path: Array<string | number>): unknown {
  let current = value;
  for (const key of path) {
    if (typeof key === 'number') {
      if (!Array.isArray(current)) return undefined;
      current = current[key];
    } else {
      if (!isRecord(current)) return undefined;
      current = current[key];
    }
  }
  return current;
}

/**
 * The peers a benchmark measured beside Petrel: it writes `<peer><suffix>` (camelCase,
 * `mosquittoRssPerConnectionBytes`) per peer; their names, sorted, less `exclude`.
 */
export function peersWith(data: unknown, suffix: string, exclude: readonly string[] = []): string[] {
  if (!isRecord(data)) return [];
  return Object.keys(data)
    .filter((key) => key.endsWith(suffix) && /^[a-z]/.test(key))
    .map((key) => key.slice(0, -suffix.length))
    .filter((peer) => /^[a-z][a-zA-Z]*$/.test(peer) && !exclude.includes(peer))
    .sort();
}

/** A finite number at the path, or undefined. */
export function numberAt(value: unknown, ...path: Array<string | number>): number | undefined {
  const found = at(value, ...path);
  return typeof found === 'number' && Number.isFinite(found) ? found : undefined;
}

export function stringAt(value: unknown, ...path: Array<string | number>): string | undefined {
  const found = at(value, ...path);
  return typeof found === 'string' ? found : undefined;
}

export function booleanAt(value: unknown, ...path: Array<string | number>): boolean | undefined {
  const found = at(value, ...path);
  return typeof found === 'boolean' ? found : undefined;
}

/** The list at the path (empty when there is none). */
export function listAt(value: unknown, ...path: Array<string | number>): unknown[] {
  const found = at(value, ...path);
  return Array.isArray(found) ? found : [];
}

/** The records of the list at the path, other entries skipped. */
export function recordsAt(value: unknown, ...path: Array<string | number>): JsonRecord[] {
  return listAt(value, ...path).filter(isRecord);
}
