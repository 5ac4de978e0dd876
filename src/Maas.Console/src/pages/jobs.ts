// Jobs of every kind (imports, training, optimisation, fine-tuning): progress, stage,
// outcome, cancel, and a loss curve for any job that reports metrics per epoch.
import { api, ApiError, can, seg } from '../api';
import { lineChart, short } from '../chart';
import { bytes, confirmButton, h, replace, when } from '../dom';
import { isFinished, jobList } from '../joblist';
import type { PageContext } from '../main';
import type { Job } from '../types';

/** Routes that list jobs; a route this server does not have (404) is skipped. */
const sources = ['/api/v1/jobs', '/api/v1/training/jobs'];

export async function jobsPage({ me, root, query }: PageContext): Promise<() => void> {
  async function fetchAll(): Promise<(Job & { source: string })[]> {
    const jobs = new Map<string, Job & { source: string }>();
    for (const source of sources) {
      try {
        const res = await api<{ jobs: Job[] }>(`${source}?limit=100`);
        for (const job of res.jobs ?? []) jobs.set(job.id, { ...job, source });
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
      ? confirmButton('Cancel', 'Really cancel?', async () => { await api(`${j.source}/${seg(j.id)}`, { method: 'DELETE' }); await reload(); })
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

function details(job: Job): HTMLElement {
  const curve = lossCurve(job);
  return h('div', { class: 'job-details' },
    job.error ? h('p', { class: 'status error' }, `${job.error.code}: ${job.error.message}`) : null,
    curve,
    h('pre', { tabindex: 0 }, JSON.stringify(job, null, 2)));
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
