// `npm run bench:report`: regenerates bench/results/REPORT.md, the charts under
// bench/results/charts/ and README.md's bench-report block from the committed results.
// Nothing is measured here; run the benchmarks first (`npm run bench`).

import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { resultsDir } from '../lib/results.js';
import { writeBlock } from './readme-block.js';
import { buildReport } from './report.js';
import { loadResults } from './result-set.js';

/** bench/results/ and README.md of the repository this file is in. */
function reportPaths(): { results: string; charts: string; report: string; readme: string } {
  const results = resultsDir();
  return { results, charts: join(results, 'charts'), report: join(results, 'REPORT.md'), readme: join(dirname(dirname(results)), 'README.md') };
}

function main(): void {
  const paths = reportPaths();
  const report = buildReport(loadResults(paths.results));
  mkdirSync(paths.charts, { recursive: true });
  // Charts of results that are gone (renamed, deleted) go too: the directory holds exactly what the report links.
  const wanted = new Set(report.charts.map((chart) => chart.file));
  for (const file of readdirSync(paths.charts)) if (file.endsWith('.svg') && !wanted.has(file)) rmSync(join(paths.charts, file));
  for (const chart of report.charts) writeFileSync(join(paths.charts, chart.file), chart.svg);
  writeFileSync(paths.report, report.reportMarkdown);
  writeFileSync(paths.readme, writeBlock(readFileSync(paths.readme, 'utf8'), report.readmeBlock));
  const root = dirname(paths.readme);
  const measured = report.rows.filter((row) => row.source !== undefined).length;
  process.stdout.write(
    `bench:report: ${report.rows.length} targets (${measured} measured), ${report.charts.length} charts\n` +
      `  ${relative(root, paths.report)}, ${relative(root, paths.charts)}/*.svg, README.md (bench-report block)\n`,
  );
}

main();
