// Jobs of every kind (imports, training, optimisation, fine-tuning): progress, stage,
// outcome, cancel, and, opened, a worker-run job's events and charts (or a loss curve from the job's own fields).
import { api, ApiError, can, seg } from '../api';
import { lineChart, short } from '../chart';
import { bytes, confirmButton, h, replace, when } from '../dom';
import { eventList, isFinished, jobCharts, jobList } from '../joblist';
import type { PageContext } from '../main';
import type { Job, JobEvent } from '../types';

export async function jobsPage({ me, root, query }: PageContext): Promise<() => void> {
  // Routes that list jobs; a route this server does not have (404) is skipped. /api/v1/jobs takes models:read or
  // training:read; the training list is asked for only with training:read (not refused once a second).
  const sources = ['/api/v1/jobs', ...(can(me, 'training:read') ? ['/api/v1/training/jobs'] : [])];
  async function fetchAll(): Promise<(Job & { source: string })[]> {
    const jobs = new Map<string, Job & { source: string }>();
    for (const source of sources) {
      try {
        const res = await api<{ jobs: Job[] }>(`${source}?limit=100`);
        // The first route that lists a job keeps it (the jobs route names its kind; the training route's list does not).
        for (const job of res.jobs ?? []) if (!jobs.has(job.id)) jobs.set(job.id, { ...job, kind: job.kind ?? (source.includes('/training/') ? 'training' : 'job'), source });
      } catch (e) {
        // A route this server lacks (404) or this key may not read (403) is left out; the other source still shows.
        if (!(e instanceof ApiError && (e.status === 404 || e.status === 405 || e.status === 403))) throw e;
      }
    }
    return [...jobs.values()].sort((a, b) => String(b.created_at ?? '').localeCompare(String(a.created_at ?? '')));
  }

  const list = await jobList<Job & { source: string }>({
    caption: 'Jobs',
    empty: 'No jobs yet. Imports (model page) and training jobs show here.',
    load: fetchAll,
    id: (j) => j.id, status: (j) => j.status, progress: percentOf,
    progressLabel: (j) => { const pct = percentOf(j); return pct === null ? (j.bytes_done ? bytes(j.bytes_done) : '–') : `${pct.toFixed(0)}%`; },
    columns: [
      { title: 'Kind', cell: (j) => (j.kind === 'training' ? h('a', { href: `#/training/${seg(j.id)}` }, 'training') : j.kind === 'fine-tune' ? h('a', { href: `#/fine-tuning/${seg(j.id)}` }, 'fine-tune') : j.kind) },
      { title: 'Model', cell: (j) => (j.model ? h('a', { href: `#/models/${seg(j.model)}` }, `${j.model}${j.version ? ' v' + j.version : ''}`) : '–') },
      { title: 'Stage', cell: (j) => j.stage ?? (j.error ? j.error.code : '–') },
      { title: 'Created', cell: (j) => when(j.created_at) },
    ],
    details,
    open: query.get('job') ? [query.get('job')!] : [],
    actions: (j, reload) => ((can(me, 'models:write') || can(me, 'training:write')) && !isFinished(j.status)
      ? confirmButton('Cancel', 'Really cancel?', async () => { await api(`${j.source}/${seg(j.id)}`, { method: 'DELETE' }); await reload(); }, 'danger', `cancel:${j.id}`)
      : null),
    intervalMs: 1000,
  });
  replace(root, h('h1', null, 'Jobs'), list.element);
  return list.stop;
}

/** Percent done: the job's own, else its epoch of epochs, else unknown. */
function percentOf(job: Job): number | null {
  return job.progress ?? (typeof job['epoch'] === 'number' && typeof job['epochs'] === 'number' ? (100 * (job['epoch'] as number)) / (job['epochs'] as number) : null);
}

// Events of the worker-run jobs whose details are open, fetched from where the last fetch ended.
const events = new Map<string, { after: number; list: JobEvent[]; busy: boolean; done: boolean }>();

function details(job: Job & { source?: string }): HTMLElement {
  const curve = lossCurve(job);
  const worker = job.kind !== 'import';
  if (worker) void fetchEvents(job);
  const seen = events.get(job.id)?.list ?? [];
  const charts = jobCharts(seen);
  return h('div', { class: 'job-details' },
    job.error ? h('p', { class: 'status error' }, `${job.error.code}: ${job.error.message}`) : null,
    curve,
    charts.length ? h('div', { class: 'charts' }, charts) : null,
    worker ? h('div', { class: 'job-events' }, h('h3', null, 'Events'), seen.length ? eventList(seen) : h('p', { class: 'muted' }, 'Loading the events…')) : null,
    h('pre', { tabindex: 0 }, JSON.stringify(job, null, 2)));
}

async function fetchEvents(job: Job & { source?: string }): Promise<void> {
  const state = events.get(job.id) ?? { after: 0, list: [], busy: false, done: false };
  events.set(job.id, state);
  if (state.busy || state.done) return;
  state.busy = true;
  try {
    for (;;) {
      const page = await api<{ events: JobEvent[]; next_after: number }>(`${job.source ?? '/api/v1/jobs'}/${seg(job.id)}/events?after=${state.after}&limit=1000`);
      state.list.push(...page.events);
      state.after = page.next_after;
      if (page.events.length < 1000) break;
    }
    // A finished job's events are all in once fetched after it ended.
    state.done = isFinished(job.status);
  } catch { /* the list's next refresh tries again */ } finally { state.busy = false; }
}

/** Finds per-epoch metrics anywhere in the job (metrics, history, epochs, result.metrics) and draws every numeric series. */
export function lossCurve(job: Job): HTMLElement | null {
  const candidates: unknown[] = [job['metrics'], job['history'], job['epochs'], job['epoch_metrics'], (job.result as Record<string, unknown> | null | undefined)?.['metrics'], (job.result as Record<string, unknown> | null | undefined)?.['history']];
  const rows = candidates.find((c): c is Record<string, unknown>[] => Array.isArray(c) && c.length > 0 && typeof c[0] === 'object' && c[0] !== null);
  if (!rows) return null;
  const xs = rows.map((r, i) => (typeof r['epoch'] === 'number' ? (r['epoch'] as number) : typeof r['step'] === 'number' ? (r['step'] as number) : i + 1));
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((k) => k !== 'epoch' && k !== 'step' && rows.some((r) => typeof r[k] === 'number'));
  if (keys.length === 0) return null;
  return lineChart('Metrics per epoch', xs, keys.map((k) => ({ name: k, values: rows.map((r) => (typeof r[k] === 'number' ? (r[k] as number) : null)) })), short, (x) => `epoch ${x}`);
}
