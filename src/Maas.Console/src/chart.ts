// Line charts drawn as SVG by hand: a few series over time, y axis from zero (or below it, for negative values), a
// legend. No chart library.
import { h, s } from './dom';

export interface Series { name: string; values: (number | null)[] }
const palette = ['#1f5f99', '#b3421d', '#2e7d32', '#6a3d9a', '#8a6d00', '#00727a', '#a1245b', '#4e5a65'];

/**
 * A chart of `series` against `times` (ms since epoch, or any increasing x). The legend shows each series' latest
 * value, or with `legend: 'total'` the sum of its values (usage per period). The y axis goes up in round steps of
 * `unit` (`binaryUnit` for bytes, so a memory axis reads 0, 100, 200 MiB).
 */
export function lineChart(title: string, times: number[], series: Series[], format: (v: number) => string = (v) => short(v), xLabel: (x: number) => string = clock, legend: 'last' | 'total' = 'last', unit: (max: number) => number = () => 1): HTMLElement {
  const width = 560;
  const height = 200;
  const bottom = 24;
  const top = 10;
  const right = 10;
  const all = series.flatMap((x) => x.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const highest = all.length ? Math.max(...all) : 0;
  // A negative value (an R² worse than the mean's) takes the axis below zero rather than being drawn off the plot.
  const lowest = all.length ? Math.min(0, ...all) : 0;
  // Counts (requests, loaded models) are never drawn against a tick of 0.5.
  const values = niceTicks(highest, unit(Math.max(highest, -lowest)), all.every((v) => Number.isInteger(v)), 5, lowest);
  const min = values[0]!;
  const max = values[values.length - 1]!;
  // The y axis is as wide as its longest label (about 7 units a character at 11px), so "476.8 MiB" is not cut.
  const ticks = values.map((v) => format(v));
  const left = Math.max(40, 12 + 7 * Math.max(...ticks.map((t) => t.length)));
  // One point (a single usage period) is drawn in the middle of the chart.
  const x0 = times.length > 1 ? times[0]! : (times[0] ?? 0) - 1;
  const x1 = times.length > 1 ? times[times.length - 1]! : (times[0] ?? 0) + 1;
  const px = (t: number): number => left + ((t - x0) / (x1 - x0 || 1)) * (width - left - right);
  const py = (v: number): number => top + (1 - (v - min) / (max - min || 1)) * (height - top - bottom);
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': `${title}: ${describe(series, format)}` });
  values.forEach((v, i) => {
    svg.appendChild(s('line', { x1: left, x2: width - right, y1: py(v), y2: py(v), class: 'grid' }));
    svg.appendChild(s('text', { x: left - 6, y: py(v) + 4, 'text-anchor': 'end', class: 'tick y', 'data-value': v }, ticks[i]!));
  });
  if (times.length > 1) {
    svg.appendChild(s('text', { x: left, y: height - 6, class: 'tick' }, xLabel(x0)));
    svg.appendChild(s('text', { x: width - right, y: height - 6, 'text-anchor': 'end', class: 'tick' }, xLabel(x1)));
  } else if (times.length === 1) {
    svg.appendChild(s('text', { x: px(times[0]!), y: height - 6, 'text-anchor': 'middle', class: 'tick' }, xLabel(times[0]!)));
  }
  series.forEach((ser, i) => {
    let d = '';
    let pen = false;
    ser.values.forEach((v, j) => {
      if (v === null || !Number.isFinite(v) || times[j] === undefined) { pen = false; return; }
      d += `${pen ? 'L' : 'M'}${px(times[j]!).toFixed(1)},${py(v).toFixed(1)}`;
      pen = true;
    });
    if (d) svg.appendChild(s('path', { d, fill: 'none', stroke: palette[i % palette.length], 'stroke-width': 2, class: 'line', 'data-series': ser.name }));
    // Few points (usage periods): mark each one, so a lone point is visible too.
    if (times.length <= 48) {
      ser.values.forEach((v, j) => {
        if (v !== null && Number.isFinite(v) && times[j] !== undefined) svg.appendChild(s('circle', { cx: px(times[j]!), cy: py(v), r: 3.5, fill: palette[i % palette.length] }));
      });
    }
  });
  const key = h('ul', { class: 'legend' }, series.map((ser, i) => {
    const shown = legend === 'total'
      ? ser.values.reduce<number>((a, v) => a + (v !== null && Number.isFinite(v) ? v : 0), 0)
      : [...ser.values].reverse().find((v) => v !== null && v !== undefined);
    return h('li', null, h('span', { class: `swatch c${i % palette.length}`, 'aria-hidden': 'true' }), `${ser.name}: ${shown === undefined || shown === null ? '–' : format(shown)}${legend === 'total' ? ' in all' : ''}`);
  }));
  return h('figure', { class: 'chart-box' }, h('figcaption', null, title), times.length === 0 ? h('p', { class: 'muted' }, 'No samples yet.') : svg, key);
}

/**
 * Grouped horizontal bars: one group per category (a metric), one bar per series (a split) in it. Each group is scaled
 * to its own largest magnitude, since metrics differ in scale (an RMSE of 0.06 beside an R² of 0.99), unless `scaleMax`
 * puts every group on one scale (probabilities on 0..1, counts of one kind); the value is written at each bar's end.
 * A group with a negative value (an R² worse than the mean) gets a zero line: its negative bars run left of it.
 */
export function barChart(title: string, categories: string[], series: Series[], format: (v: number) => string = (v) => short(v), scaleMax?: number): HTMLElement {
  const width = 560;
  const left = 150;
  const right = 70;
  const bar = 14;
  const gap = 10;
  const groupHeight = series.length * bar + gap;
  const height = Math.max(1, categories.length) * groupHeight + gap;
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart bars', role: 'img', 'aria-label': `${title}: ${categories.map((c, i) => `${c} ${series.map((x) => `${x.name} ${value(x.values[i], format)}`).join(', ')}`).join('; ')}` });
  categories.forEach((category, i) => {
    const top = gap + i * groupHeight;
    const values = series.map((x) => x.values[i]).filter((v): v is number => v !== null && v !== undefined && Number.isFinite(v));
    const high = scaleMax ?? Math.max(0, ...values);
    const low = Math.min(0, ...values);
    const plot = width - left - right;
    const zero = high - low > 0 ? left + (-low / (high - low)) * plot : left;
    svg.appendChild(s('text', { x: left - 8, y: top + (series.length * bar) / 2 + 4, 'text-anchor': 'end', class: 'tick category' }, category));
    if (low < 0) svg.appendChild(s('line', { x1: zero, x2: zero, y1: top - 2, y2: top + series.length * bar + 2, class: 'zero', 'data-category': category }));
    series.forEach((x, j) => {
      const v = x.values[i];
      if (v === null || v === undefined || !Number.isFinite(v)) return;
      const length = high - low > 0 ? Math.max(1, (Math.abs(v) / (high - low)) * plot) : 1;
      const y = top + j * bar;
      svg.appendChild(s('rect', { x: v < 0 ? zero - length : zero, y: y + 1, width: length, height: bar - 2, fill: palette[j % palette.length], class: 'bar', 'data-series': x.name, 'data-category': category, 'data-value': v }));
      // A negative bar's value goes right of the zero line, where its row has no bar, not over the category names.
      svg.appendChild(s('text', { x: (v < 0 ? zero : zero + length) + 4, y: y + bar - 3, class: 'tick' }, format(v)));
    });
  });
  const legend = h('ul', { class: 'legend' }, series.map((x, i) => h('li', null, h('span', { class: `swatch c${i % palette.length}`, 'aria-hidden': 'true' }), x.name)));
  return h('figure', { class: 'chart-box' }, h('figcaption', null, title), categories.length === 0 ? h('p', { class: 'muted' }, 'No values.') : svg, legend);
}

function value(v: number | null | undefined, format: (v: number) => string): string {
  return v === null || v === undefined || !Number.isFinite(v) ? 'none' : format(v);
}

function describe(series: Series[], format: (v: number) => string): string {
  return series.map((x) => {
    const last = [...x.values].reverse().find((v) => v !== null && v !== undefined);
    return `${x.name} ${last === undefined || last === null ? 'no data' : format(last)}`;
  }).join(', ');
}

/**
 * The y axis' ticks from `min` (0 unless a value is negative) up to at least `max`: the smallest step of 1, 2 or 5 x
 * 10^n times `unit` that spans them in at most `most` steps (0, 2, 4, 6 rather than 0, 1.25, 2.5, 3.75, 5), on
 * multiples of the step, so zero is a tick. With `whole`, no step is below 1.
 */
export function niceTicks(max: number, unit = 1, whole = false, most = 5, min = 0): number[] {
  const bottom = Number.isFinite(min) && min < 0 ? min / unit : 0;
  const top = Number.isFinite(max) && max > 0 ? max / unit : bottom < 0 ? 0 : 1;
  const raw = (top - bottom) / most;
  const power = 10 ** Math.floor(Math.log10(raw));
  // The margin keeps a step that is exactly right (raw 2 read as 1.9999999) from being passed over.
  let step = [1, 2, 5, 10].map((m) => m * power).find((m) => m >= raw * (1 - 1e-9)) ?? 10 * power;
  if (whole && unit === 1 && step < 1) step = 1;
  // Steps below zero, then above: a span that rounds out to one step more than `most` is still drawn whole.
  const below = Math.max(0, Math.ceil(-bottom / step - 1e-9));
  const above = Math.max(below === 0 ? 1 : 0, Math.ceil(top / step - 1e-9));
  // toPrecision drops the float noise of the products (3 x 0.1 is 0.30000000000000004).
  return Array.from({ length: below + above + 1 }, (_, i) => Number(((i - below) * step).toPrecision(12)) * unit);
}

/** The unit a byte axis steps in: the largest power of 1024 (KiB, MiB, GiB) not above `max`. */
export function binaryUnit(max: number): number {
  return max >= 1024 ? 1024 ** Math.min(4, Math.floor(Math.log(max) / Math.log(1024))) : 1;
}

/**
 * 1.2k, 3.4M, 12.5, 0.5, 0.0004: three significant digits below 100 without trailing zeros, so a small value (a
 * latency of 0.0004 s) reads as itself rather than as 0.00 or 0.01, and 0.5 is not written 0.50.
 */
export function short(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (a >= 100 || Number.isInteger(v)) return String(Math.round(v));
  // toPrecision keeps three significant digits; Number drops its trailing zeros (and the float noise).
  const rounded = Number(v.toPrecision(3));
  if (a < 1e-6) return String(rounded);
  const fixed = rounded.toFixed(Math.max(0, 2 - Math.floor(Math.log10(Math.abs(rounded)))));
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}

function clock(t: number): string { return new Date(t).toLocaleTimeString(); }

/**
 * A confusion matrix as a heatmap: rows are the true class, columns the predicted one. A cell's shade is its share of
 * its row (how the true class's rows were predicted), so a rare class reads as clearly as a common one; its count is
 * written in it. Each cell carries its row, column and count as data attributes.
 */
export function heatmap(title: string, labels: string[], matrix: number[][]): HTMLElement {
  const k = labels.length;
  const cell = Math.max(16, Math.min(64, Math.floor(448 / Math.max(1, k))));
  // Long or many class names are written slanted above their column.
  const slanted = k > 6 || labels.some((l) => l.length * 7 > cell);
  const left = 12 + Math.min(14, Math.max(...labels.map((l) => l.length), 4)) * 7;
  const top = slanted ? 12 + Math.min(14, Math.max(...labels.map((l) => l.length), 4)) * 5 : 22;
  const width = left + k * cell + 8;
  const height = top + k * cell + 8;
  const cut = (l: string): string => (l.length > 14 ? `${l.slice(0, 13)}…` : l);
  const cells = matrix.map((row) => labels.map((_, j) => (typeof row?.[j] === 'number' ? row[j] : 0)));
  const spoken = cells.flatMap((row, i) => row.map((n, j) => `true ${labels[i]} predicted ${labels[j]}: ${n}`));
  const svg = s('svg', {
    viewBox: `0 0 ${width} ${height}`, width, height, class: 'chart heatmap', role: 'img',
    'aria-label': `${title}: ${spoken.slice(0, 100).join('; ')}${spoken.length > 100 ? `; and ${spoken.length - 100} more cells` : ''}`,
  });
  labels.forEach((label, j) => {
    const x = left + j * cell + cell / 2;
    svg.appendChild(slanted
      ? s('text', { x, y: top - 6, transform: `rotate(-45 ${x} ${top - 6})`, class: 'tick category' }, cut(label))
      : s('text', { x, y: top - 6, 'text-anchor': 'middle', class: 'tick category' }, cut(label)));
  });
  cells.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    const y = top + i * cell;
    svg.appendChild(s('text', { x: left - 6, y: y + cell / 2 + 4, 'text-anchor': 'end', class: 'tick category' }, cut(labels[i]!)));
    row.forEach((n, j) => {
      const share = total > 0 ? n / total : 0;
      const x = left + j * cell;
      svg.appendChild(s('rect', {
        x, y, width: cell - 1, height: cell - 1, fill: `rgba(31, 95, 153, ${(0.06 + 0.94 * share).toFixed(3)})`, class: `cell${i === j ? ' diagonal' : ''}`,
        'data-row': labels[i], 'data-col': labels[j], 'data-value': n,
      }, s('title', null, `true ${labels[i]}, predicted ${labels[j]}: ${n} (${(100 * share).toFixed(1)}% of ${labels[i]})`)));
      if (cell >= 22) {
        svg.appendChild(s('text', { x: x + cell / 2, y: y + cell / 2 + 4, 'text-anchor': 'middle', class: `count${share > 0.5 ? ' dark' : ''}`, 'font-size': Math.min(13, Math.floor(cell / 2.6)) }, short(n)));
      }
    });
  });
  return h('figure', { class: 'chart-box heatmap-box' },
    h('figcaption', null, title),
    k === 0 ? h('p', { class: 'muted' }, 'No classes.') : h('div', { class: 'scroll' }, svg),
    h('p', { class: 'hint' }, 'Rows: the true class; columns: the predicted one. Darker: a larger share of the row.'));
}
