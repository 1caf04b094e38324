import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeBlock } from '../../bench/report/readme-block.js';
import { buildReport } from '../../bench/report/report.js';
import { loadResults, resultFile, type ResultFile } from '../../bench/report/result-set.js';

const resultsDir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const results = loadResults(resultsDir);
const report = buildReport(results);
const STALE = 'is not what the committed results give: run npm run bench:report and commit its output';

const machine = { cpus: 2, cpuModel: 'Test CPU', memGiB: 4, node: 'v20.0.0' };
function fake(name: string, figures: Record<string, unknown>): ResultFile {
  return resultFile(name, { bench: name, date: '2026-12-03T10:00:00.000Z', machine, ...figures });
}

describe('benchmark report (npm run bench:report)', () => {
  it("README's bench-report block is the table the generator makes of bench/results/", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    assert.ok(readme.includes(report.readmeBlock), `README.md's benchmark table ${STALE}`);
    assert.equal(writeBlock(readme, report.readmeBlock), readme, `README.md's benchmark table ${STALE}`);
  });

  it('bench/results/REPORT.md matches', () => {
    const written = readFileSync(new URL('../../bench/results/REPORT.md', import.meta.url), 'utf8');
    assert.equal(written, report.reportMarkdown, `bench/results/REPORT.md ${STALE}`);
  });

  it('bench/results/charts/ holds exactly the charts, byte for byte', () => {
    const chartsDir = new URL('../../bench/results/charts/', import.meta.url);
    const onDisk = readdirSync(chartsDir).filter((file) => file.endsWith('.svg')).sort();
    assert.deepEqual(onDisk, report.charts.map((chart) => chart.file).sort(), `bench/results/charts/ ${STALE}`);
    for (const chart of report.charts) {
      assert.equal(readFileSync(new URL(chart.file, chartsDir), 'utf8'), chart.svg, `charts/${chart.file} ${STALE}`);
    }
    assert.ok(report.charts.some((chart) => chart.file.startsWith('broadcast')), 'a broadcast chart per run with the MQTT peers');
  });

  it('is deterministic: the same results give the same bytes', () => {
    const again = buildReport(loadResults(resultsDir));
    assert.equal(again.reportMarkdown, report.reportMarkdown);
    assert.deepEqual(again.charts, report.charts);
  });

  it('reads its figures from the JSON, with the date of each measurement', () => {
    const idle = results.get('idle-connections');
    assert.ok(idle !== undefined, 'bench/results/idle-connections.json is committed');
    const row = report.rows.find((r) => r.issue === 2 && r.measure.startsWith('Idle RSS'));
    assert.ok(row !== undefined);
    assert.equal(row.petrel, `${((idle.data['rssPerConnectionBytes'] as number) / 1024).toFixed(2)} KB`);
    assert.equal(row.source, idle);
    assert.ok(report.readmeBlock.includes(`[${idle.date!.slice(0, 10)}](bench/results/idle-connections.json)`));
    for (const issue of [2, 3, 4, 5, 6]) assert.ok(report.rows.some((r) => r.issue === issue), `a row for issue #${issue}`);
  });

  it('a missing result file makes "not measured" rows, not an error', () => {
    const without = new Map(results);
    without.delete('accept-rate');
    without.delete('idle-fleet');
    const built = buildReport(without);
    const rows = built.rows.filter((r) => r.issue === 4 || r.issue === 6);
    assert.ok(rows.length >= 5);
    for (const row of rows) {
      assert.match(row.petrel, /^not measured/);
      assert.equal(row.met, undefined);
      assert.equal(row.source, undefined);
    }
    assert.match(built.readmeBlock, /\| #6 \| [^|]+ \| not measured \(no idle-fleet\.json\) \|/);
    assert.ok(!built.charts.some((chart) => chart.file === 'accept-rate.svg'));
  });

  it('a result without the figure reads "not measured", never NaN or undefined', () => {
    const partial = new Map(results);
    partial.set('unicast', fake('unicast', { config: {} }));
    partial.set('campaign', fake('campaign', { runs: [{ audience: 10 }] }));
    const built = buildReport(partial);
    for (const row of built.rows.filter((r) => r.issue === 3 || r.measure.includes('campaign') || r.measure.includes('Redis'))) {
      assert.match(row.petrel, /^not measured \(\w+\.json lacks it\)/, row.measure);
    }
    assert.doesNotMatch(built.reportMarkdown, /NaN|undefined/);
  });

  it('compares idle connections with every MQTT broker the idle bench measured beside the floor', () => {
    const withPeers = new Map(results);
    withPeers.set('idle-connections', fake('idle-connections', {
      connected: 19_000, rssPerConnectionBytes: 2048, floorRssPerConnectionBytes: 4096, mosquittoRssPerConnectionBytes: 1024, aedesRssPerConnectionBytes: 8192,
      gatewayCpuMicrosPerConnect: 250, floorCpuMicrosPerConnect: 125, mosquittoCpuMicrosPerConnect: 100,
    }));
    const built = buildReport(withPeers);
    const [rss, , capacity] = built.rows.filter((r) => r.issue === 2);
    assert.equal(rss?.peer, '4.00 KB bare node:net; 8.00 KB aedes; 1.00 KB mosquitto');
    assert.equal(rss?.ratio, '0.50× floor, 0.25× aedes, 2.00× mosquitto');
    assert.equal(capacity?.petrel, '4,000/s (250 µs each)');
    assert.equal(capacity?.ratio, '0.50× floor, 0.40× mosquitto');
    const chart = built.charts.find((c) => c.file === 'idle-rss.svg');
    assert.ok(chart?.svg.includes('>aedes<') && chart.svg.includes('>mosquitto<'));
  });

  it('compares unicast with every MQTT broker the unicast bench drove with the same schedule', () => {
    const withPeers = new Map(results);
    withPeers.set('unicast', fake('unicast', {
      config: { p99LimitMs: 250 }, latencyRate: 1000, latencyP50Ms: 20, latencyP99Ms: 80, rampHighestKeptUp: 1000, latencyServiceCpuPercent: 50,
      mosquittoLatencyP50Ms: 1, mosquittoLatencyP99Ms: 4, mosquittoRampHighestKeptUp: 20_000, mosquittoCpuMicrosPerMessage: 100,
      aedesRedisLatencyP50Ms: 2, aedesRedisLatencyP99Ms: 10, aedesRedisRampHighestKeptUp: 5000, aedesRedisCpuMicrosPerMessage: 250,
    }));
    const rows = buildReport(withPeers).rows.filter((r) => r.issue === 3);
    const p50 = rows.find((r) => r.measure.startsWith('Unicast p50'));
    assert.equal(p50?.peer, '2.0 ms aedes + Redis; 1.0 ms mosquitto');
    assert.equal(p50?.ratio, '10.00× aedes + Redis, 20.00× mosquitto');
    assert.equal(p50?.met, false);
    const ramp = rows.find((r) => r.measure.startsWith('Unicast ramp'));
    assert.equal(ramp?.peer, '5,000/s aedes + Redis; 20,000/s mosquitto');
    assert.equal(ramp?.ratio, '0.20× aedes + Redis, 0.05× mosquitto');
    const cpu = rows.find((r) => r.measure.startsWith('Unicast CPU'));
    assert.equal(cpu?.petrel, '500 µs');
    assert.equal(cpu?.peer, '250 µs aedes + Redis; 100 µs mosquitto');
  });

  it('reads a later idle-fleet.json defensively and judges it against the targets', () => {
    const withFleet = new Map(results);
    withFleet.set('idle-fleet', fake('idle-fleet', { connected: 100_000, gateways: 6, rssPerConnectionBytes: 2000, gatewaysCpuPercentOfOneCore: 9 }));
    const rows = buildReport(withFleet).rows.filter((r) => r.issue === 6);
    assert.deepEqual(rows.map((r) => [r.petrel, r.met]), [
      ['100,000 over 6 gateways', true],
      ['1.95 KB', true],
      ['1.71 % of a core (9.00 % in all)', true],
    ]);
    withFleet.set('idle-fleet', fake('idle-fleet', { connected: 64_000, gateways: [1, 2, 3] }));
    const partial = buildReport(withFleet).rows.filter((r) => r.issue === 6);
    assert.deepEqual(partial.map((r) => [r.petrel, r.met]), [
      ['64,000 over 3 gateways', false],
      ['not measured (idle-fleet.json lacks it)', undefined],
      ['not measured (idle-fleet.json lacks it)', undefined],
    ]);
  });
});
