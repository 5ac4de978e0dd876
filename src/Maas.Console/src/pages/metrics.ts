// Live charts from the server's own metrics (GET /api/v1/metrics/history, sampled server-side into a one-hour ring).
import { api } from '../api';
import { binaryUnit, lineChart, short } from '../chart';
import { bytes, field, h, replace, statusLine } from '../dom';
import type { PageContext } from '../main';

type Columns = Record<string, (number | null)[]>;
interface History { metrics_enabled: boolean; interval_seconds: number; history_seconds: number; times: number[]; server: Columns | null; models: Record<string, Columns> }

export async function metricsPage({ root }: PageContext): Promise<() => void> {
  const scope = h('select', null, h('option', { value: '' }, 'whole server'));
  const range = h('select', null, ['5', '15', '60'].map((m) => h('option', { value: m }, `last ${m} min`)));
  range.value = '60';
  const charts = h('div', { class: 'charts', 'aria-live': 'off' });
  const status = statusLine();
  let timer = 0;
  let stopped = false;

  async function load(): Promise<void> {
    try {
      const data = await api<History>('/api/v1/metrics/history');
      if (!data.metrics_enabled) { status.error('Metrics are switched off on this server (Maas:Observability:Metrics).'); return; }
      for (const name of Object.keys(data.models)) {
        if (![...scope.options].some((o) => o.value === name)) scope.appendChild(h('option', { value: name }, name));
      }
      const since = Date.now() - Number(range.value) * 60_000;
      const first = data.times.findIndex((t) => t >= since);
      const cut = <T>(a: T[]): T[] => (first < 0 ? [] : a.slice(first));
      const times = cut(data.times);
      const cols: Columns | null = scope.value ? data.models[scope.value] ?? null : data.server ?? sumModels(data.models, data.times.length);
      if (!cols) { replace(charts, h('p', null, 'No samples for this model yet.')); return; }
      const c = (k: string): (number | null)[] => cut(cols[k] ?? []);
      const perModel = (k: string): { name: string; values: (number | null)[] }[] => Object.entries(data.models).map(([n, m]) => ({ name: n, values: cut(m[k] ?? []) }));
      replace(charts,
        lineChart('Requests per second', times, scope.value || !data.server ? [{ name: 'requests/s', values: c('requests_per_second') }] : [{ name: 'all', values: c('requests_per_second') }, ...perModel('requests_per_second')]),
        lineChart('Latency percentiles (ms)', times, [{ name: 'p50', values: c('latency_p50_ms') }, { name: 'p95', values: c('latency_p95_ms') }, { name: 'p99', values: c('latency_p99_ms') }], (v) => `${short(v)}`),
        lineChart('Generated tokens per second', times, [{ name: 'tokens/s', values: c('tokens_per_second') }]),
        lineChart('Queue depth (queued or running)', times, [{ name: 'queue', values: c('queue_depth') }]),
        lineChart(scope.value ? 'Loaded instances' : 'Loaded models', times, [{ name: scope.value ? 'instances' : 'models', values: c(scope.value ? 'instances' : 'loaded_models') }]),
        // Memory steps in KiB, MiB or GiB (0, 100, 200 MiB), not in powers of ten of bytes.
        scope.value
          ? lineChart('Model memory (accounted)', times, [{ name: 'memory', values: c('memory_bytes') }], (v) => bytes(v), undefined, undefined, binaryUnit)
          : data.server
            ? lineChart('Server memory (working set)', times, [{ name: 'server', values: c('memory_bytes') }, ...perModel('memory_bytes')], (v) => bytes(v), undefined, undefined, binaryUnit)
            : lineChart('Models memory (accounted)', times, [{ name: 'models', values: c('memory_bytes') }, ...perModel('memory_bytes')], (v) => bytes(v), undefined, undefined, binaryUnit));
      status.ok(`${data.times.length} samples, every ${data.interval_seconds} s (history: ${data.history_seconds / 60} min). Updated ${new Date().toLocaleTimeString()}.`);
    } catch (e) { status.error(e as Error); }
  }

  async function loop(): Promise<void> {
    await load();
    if (!stopped) timer = window.setTimeout(() => void loop(), 2000);
  }

  scope.addEventListener('change', () => void load());
  range.addEventListener('change', () => void load());
  replace(root, h('h1', null, 'Metrics'),
    h('p', { class: 'muted' }, 'Sampled from the server\'s own metrics every few seconds; the last hour is kept by the server, so the charts survive a reload.'),
    h('form', { class: 'filters', onsubmit: (e: Event) => e.preventDefault() }, field('Show', scope), field('Range', range)),
    status, charts);
  await loop();
  return () => { stopped = true; clearTimeout(timer); };
}

function sumModels(models: Record<string, Columns>, length: number): Columns {
  const out: Columns = {};
  for (const cols of Object.values(models)) {
    for (const [k, values] of Object.entries(cols)) {
      if (k.startsWith('latency')) continue;
      const acc = out[k] ?? (out[k] = new Array<number | null>(length).fill(null));
      values.forEach((v, i) => { if (v !== null) acc[i] = (acc[i] ?? 0) + v; });
    }
  }
  const first = Object.values(models)[0];
  for (const k of ['latency_p50_ms', 'latency_p95_ms', 'latency_p99_ms']) out[k] = Object.keys(models).length === 1 && first ? first[k] ?? [] : [];
  out['loaded_models'] = out['instances'] ?? [];
  return out;
}
