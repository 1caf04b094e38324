// The generated part of README.md: everything between the two markers is replaced by
// the report; the prose around it is left as it is.

export const BLOCK_START = '<!-- bench-report:start -->';
export const BLOCK_END = '<!-- bench-report:end -->';

function bounds(readme: string): { start: number; end: number } {
  const start = readme.indexOf(BLOCK_START);
  const end = readme.indexOf(BLOCK_END);
  if (start === -1 || end === -1 || end < start) {
    throw new Error(`README.md has no ${BLOCK_START} … ${BLOCK_END} block for the benchmark report`);
  }
  return { start: start + BLOCK_START.length, end };
}

/** The text between the markers, as the generator wrote it (without the newlines that frame it). */
export function readBlock(readme: string): string {
  const { start, end } = bounds(readme);
  return readme.slice(start, end).replace(/^\n/, '').replace(/\n$/, '');
}

/** README with the block's content replaced by `content`. */
export function writeBlock(readme: string, content: string): string {
  const { start, end } = bounds(readme);
  return `${readme.slice(0, start)}\n${content.replace(/\n$/, '')}\n${readme.slice(end)}`;
}
