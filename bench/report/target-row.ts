// One row of the report: a target from the issues, what Petrel measured against it,
// the peer or floor it was measured beside, and whether it is met.

import { decimal, times } from './format.js';
import type { ResultFile } from './result-set.js';

export interface TargetRow {
  /** The issue that sets the target (#2 …). */
  issue: number;
  measure: string;
  petrel: string;
  /** The peer or floor measured in the same run, with its name; "—" when there is none. */
  peer: string;
  /** Petrel ÷ peer (or ÷ target where there is no peer), with what it is divided by. */
  ratio: string;
  target: string;
  /** undefined: nothing to pass or fail (a figure the issue asks to report), or not measured. */
  met: boolean | undefined;
  /** The result the row was read from; undefined when not measured. */
  source: ResultFile | undefined;
}

/** What a row reads from its result file. */
export interface Measured {
  petrel: string;
  peer?: string;
  ratio?: string;
  met?: boolean;
}

export interface RowSpec {
  issue: number;
  measure: string;
  target: string;
}

export const NONE = '—';

/**
 * A row read from `file` by `read`. No file, or a file without the figure (`read` gives
 * undefined), makes a "not measured" row that names the file it expected.
 */
export function targetRow(spec: RowSpec, expected: string, file: ResultFile | undefined, read: (file: ResultFile) => Measured | undefined): TargetRow {
  const measured = file === undefined ? undefined : read(file);
  if (file === undefined || measured === undefined) {
    const why = file === undefined ? `no ${expected}.json` : `${file.name}.json lacks it`;
    return { ...spec, petrel: `not measured (${why})`, peer: NONE, ratio: NONE, met: undefined, source: undefined };
  }
  return { ...spec, petrel: measured.petrel, peer: measured.peer ?? NONE, ratio: measured.ratio ?? NONE, met: measured.met, source: file };
}

/** "0.52× floor": Petrel's figure over the one it is compared with. */
export function ratio(value: number, reference: number, against: string): string | undefined {
  return reference > 0 ? `${times(value / reference)} ${against}` : undefined;
}

/** A figure Petrel is compared with in a row: a peer or the floor, from the same run. */
export interface Reference {
  /** As the peer column names it: "bare node:net", "mosquitto". */
  name: string;
  /** As the ratio column names it: "floor", "mosquitto". */
  short: string;
  value: number;
  /** The ratio the benchmark wrote, if any (a median of per-run ratios). */
  written?: number | undefined;
}

/** The peer and ratio cells: every reference with its figure, Petrel's figure over each. */
export function compared(petrel: number, refs: Reference[], format: (value: number) => string, fallback?: string): { peer?: string; ratio?: string } {
  if (refs.length === 0) return fallback === undefined ? {} : { ratio: fallback };
  return {
    peer: refs.map((ref) => `${format(ref.value)} ${ref.name}`).join('; '),
    ratio: refs.map((ref) => (ref.written === undefined ? ratio(petrel, ref.value, ref.short) : `${decimal(ref.written, 2)}× ${ref.short}`)).filter((r) => r !== undefined).join(', '),
  };
}

