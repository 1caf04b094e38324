// A small horizontal bar chart as hand-written SVG: groups of labelled bars with their
// values, an optional target line, a legend of the series. Enough for the benchmark
// report without a charting dependency; the output depends only on the input, so the
// same results give byte-identical files.

export interface Bar {
  label: string;
  value: number;
  /** Colour key: petrel, aedes, mosquitto, floor, … (see SERIES_COLOURS). */
  series: string;
}

export interface BarGroup {
  label: string;
  bars: Bar[];
}

export interface BarChart {
  title: string;
  subtitle?: string;
  groups: BarGroup[];
  /** How a value is written beside its bar. */
  format: (value: number) => string;
  /** A vertical line across the bars, e.g. the target. */
  marker?: { value: number; label: string };
}

const SERIES_COLOURS: Record<string, string> = {
  petrel: '#1f6feb',
  aedes: '#bf8700',
  mosquitto: '#8250df',
  floor: '#6e7781',
  'kept up': '#1f6feb',
  'not kept up': '#cf222e',
  p50: '#1f6feb',
  p99: '#9a6700',
  service: '#1f6feb',
  redis: '#cf222e',
  devices: '#6e7781',
};
const OTHER_COLOUR = '#57606a';
/** How a series is named in the legend, where its key alone would not say. */
const SERIES_NAMES: Record<string, string> = {
  petrel: 'Petrel',
  floor: 'bare node:net floor',
  service: 'Petrel service',
  redis: 'Redis',
};

const WIDTH = 800;
const MARGIN = 12;
const LABEL_WIDTH = 250;
const VALUE_WIDTH = 120;
const BAR_HEIGHT = 14;
const BAR_ROW = 19;
const GROUP_HEADER = 20;
const GROUP_GAP = 6;
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Coordinates to one decimal: enough for a screen, stable as text. */
function px(value: number): string {
  return String(Math.round(value * 10) / 10);
}

export function renderBarChart(chart: BarChart): string {
  const bars = chart.groups.flatMap((group) => group.bars);
  const largest = Math.max(0, ...bars.map((bar) => bar.value), chart.marker?.value ?? 0);
  const scaleMax = largest > 0 ? largest : 1;
  const barLeft = MARGIN + LABEL_WIDTH;
  const barSpan = WIDTH - barLeft - VALUE_WIDTH - MARGIN;
  const x = (value: number) => barLeft + (Math.max(0, value) / scaleMax) * barSpan;

  const series = [...new Set(bars.map((bar) => bar.series))];
  const out: string[] = [];
  let y = MARGIN + 14;
  out.push(`<text x="${MARGIN}" y="${y}" font-size="15" font-weight="600">${escapeXml(chart.title)}</text>`);
  if (chart.subtitle !== undefined) {
    y += 18;
    out.push(`<text x="${MARGIN}" y="${y}" font-size="12" fill="#57606a">${escapeXml(chart.subtitle)}</text>`);
  }
  y += 20;
  let legendX = MARGIN;
  for (const key of series) {
    const name = SERIES_NAMES[key] ?? key;
    out.push(`<rect x="${legendX}" y="${y - 10}" width="12" height="12" fill="${SERIES_COLOURS[key] ?? OTHER_COLOUR}"/>`);
    out.push(`<text x="${legendX + 16}" y="${y}" font-size="12">${escapeXml(name)}</text>`);
    // Text width is not known without a font; 7 px a character is generous at 12 px.
    legendX += 16 + name.length * 7 + 18;
  }
  y += 8;
  const barsTop = y;

  for (const group of chart.groups) {
    y += GROUP_HEADER;
    out.push(`<text x="${MARGIN}" y="${y - 5}" font-size="12" font-weight="600">${escapeXml(group.label)}</text>`);
    for (const bar of group.bars) {
      const top = y + (BAR_ROW - BAR_HEIGHT) / 2;
      const right = x(bar.value);
      out.push(`<text x="${barLeft - 6}" y="${px(top + 11)}" font-size="12" text-anchor="end">${escapeXml(bar.label)}</text>`);
      out.push(`<rect x="${barLeft}" y="${px(top)}" width="${px(right - barLeft)}" height="${BAR_HEIGHT}" fill="${SERIES_COLOURS[bar.series] ?? OTHER_COLOUR}"/>`);
      out.push(`<text x="${px(right + 4)}" y="${px(top + 11)}" font-size="12">${escapeXml(chart.format(bar.value))}</text>`);
      y += BAR_ROW;
    }
    y += GROUP_GAP;
  }

  if (chart.marker !== undefined) {
    const mx = px(x(chart.marker.value));
    out.push(`<line x1="${mx}" y1="${barsTop}" x2="${mx}" y2="${y}" stroke="#cf222e" stroke-width="1.5" stroke-dasharray="4 3"/>`);
    y += 14;
    out.push(`<text x="${mx}" y="${y}" font-size="11" fill="#cf222e" text-anchor="middle">${escapeXml(chart.marker.label)}</text>`);
  }
  const height = y + MARGIN;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT}>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
