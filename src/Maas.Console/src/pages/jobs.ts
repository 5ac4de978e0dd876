// Jobs of every kind (imports, training, optimisation, fine-tuning): progress, stage,
// outcome, cancel, and a loss curve for any job that reports metrics per epoch.
import { api, ApiError, can, seg } from '../api';
import { lineChart, short } from '../chart';
import { bytes, confirmButton, h, replace, statusLine, when } from '../dom';
import type { PageContext } from '../main';
import type { Job } from '../types';

/** Routes that list jobs; a route this server does not have (404) is skipped. */
const sources = ['/api/v1/jobs', '/api/v1/training/jobs'];
const finished = ['succeeded', 'failed', 'cancelled'];

export async function jobsPage({ me, root, query }: PageContext): Promise<() => void> {
  const status = statusLine();
  const list = h('div');
  const open = new Set<string>(query.get('job') ? [query.get('job')!] : []);
  let timer = 0;
  let stopped = false;

  async function fetchAll(): Promise<Job[]> {
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

  async function load(): Promise<void> {
    try {
      const jobs = await fetchAll();
      replace(list, jobs.length === 0 ? h('p', null, 'No jobs yet. Imports (model page) and training jobs show here.') : h('table', { class: 'list' },
        h('caption', { class: 'sr-only' }, 'Jobs'),
        h('thead', null, h('tr', null, ['Job', 'Kind', 'Model', 'Status', 'Progress', 'Stage', 'Created', ''].map((t) => h('th', { scope: 'col' }, t || h('span', { class: 'sr-only' }, 'Actions'))))),
        h('tbody', null, jobs.flatMap((job) => {
          const row = h('tr', { 'data-job': job.id, 'data-status': job.status },
            h('td', null, h('button', { type: 'button', class: 'link', 'aria-expanded': open.has(job.id) ? 'true' : 'false', onclick: () => { open.has(job.id) ? open.delete(job.id) : open.add(job.id); void load(); } }, job.id.slice(0, 12))),
            h('td', null, job.kind === 'training' ? h('a', { href: `#/training/${seg(job.id)}` }, 'training') : job.kind === 'fine-tune' ? h('a', { href: `#/fine-tuning/${seg(job.id)}` }, 'fine-tune') : job.kind),
            h('td', null, job.model ? h('a', { href: `#/models/${seg(job.model)}` }, `${job.model}${job.version ? ' v' + job.version : ''}`) : '–'),
            h('td', null, h('span', { class: `badge ${job.status}` }, job.status)),
            h('td', null, progressOf(job)),
            h('td', null, job.stage ?? (job.error ? job.error.code : '–')),
            h('td', null, when(job.created_at)),
            h('td', null, (can(me, 'models:write') || can(me, 'training:write')) && !finished.includes(job.status)
              ? confirmButton('Cancel', 'Really cancel?', async () => { await api(`${(job as Job & { source: string }).source}/${seg(job.id)}`, { method: 'DELETE' }); await load(); })
              : null));
          return open.has(job.id) ? [row, h('tr', { class: 'details' }, h('td', { colspan: 8 }, details(job)))] : [row];
        }))));
      status.ok(`${jobs.length} job${jobs.length === 1 ? '' : 's'}; ${jobs.filter((j) => !finished.includes(j.status)).length} running. Updated ${new Date().toLocaleTimeString()}.`);
    } catch (e) { status.error(e as Error); }
  }

  async function loop(): Promise<void> {
    await load();
    if (!stopped) timer = window.setTimeout(() => void loop(), 1000);
  }

  replace(root, h('h1', null, 'Jobs'), status, list);
  await loop();
  return () => { stopped = true; clearTimeout(timer); };
}

function progressOf(job: Job): HTMLElement {
  const pct = job.progress ?? (typeof job['epoch'] === 'number' && typeof job['epochs'] === 'number' ? (100 * (job['epoch'] as number)) / (job['epochs'] as number) : null);
  const label = pct === null ? (job.bytes_done ? bytes(job.bytes_done) : '–') : `${pct.toFixed(0)}%`;
  return h('span', { class: 'progress-cell' },
    h('progress', { max: 100, value: pct ?? undefined, 'aria-label': `Progress of job ${job.id.slice(0, 12)}` }), ' ', label);
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
