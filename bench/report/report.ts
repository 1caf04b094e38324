// The benchmark report from a set of results: the rows (one per target of issues #2 to
// #6), the charts, REPORT.md and the README block. Pure: no file is read or written
// here, so the test can build it from any set of results.

import { broadcastGatewayRows, broadcastPeerRows } from './broadcast-rows.js';
import { campaignRows } from './campaign-rows.js';
import { idleConnectionRows, idleFleetRows } from './idle-rows.js';
import { buildCharts, type ChartFile } from './report-charts.js';
import { renderReport } from './report-markdown.js';
import type { ResultSet } from './result-set.js';
import { acceptRateRows, unicastRows } from './send-rows.js';
import type { TargetRow } from './target-row.js';

export interface Report {
  rows: TargetRow[];
  charts: ChartFile[];
  /** bench/results/REPORT.md */
  reportMarkdown: string;
  /** The content of README.md's bench-report block. */
  readmeBlock: string;
}

export function targetRows(results: ResultSet): TargetRow[] {
  return [
    ...idleConnectionRows(results),
    ...unicastRows(results),
    ...acceptRateRows(results),
    ...broadcastPeerRows(results),
    ...broadcastGatewayRows(results),
    ...campaignRows(results),
    ...idleFleetRows(results),
  ];
}

export function buildReport(results: ResultSet): Report {
  const rows = targetRows(results);
  const charts = buildCharts(results);
  return {
    rows,
    charts,
    reportMarkdown: `# Benchmark report\n\n${renderReport(rows, charts, { results: '', performanceDoc: '../../docs/performance.md' })}`,
    readmeBlock: renderReport(rows, charts, { results: 'bench/results/', performanceDoc: 'docs/performance.md' }),
  };
}
