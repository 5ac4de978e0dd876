// Jobs of every kind (imports, training, optimisation, fine-tuning): progress, stage,
// outcome, cancel, and, opened, a worker-run job's events and charts (or a loss curve from the job's own fields).
import { api, ApiError, can, seg } from '../api';
import { lineChart, short } from '../chart';
import { bytes, confirmButton, h, keepQuery, replace, when } from '../dom';
import { eventList, isFinished, jobCharts, jobList } from '../joblist';
import type { PageContext } from '../main';
import type { Job, JobEvent } from '../types';

/** Jobs per page: the API's default page, as on the models page. */
const jobsPageSize = 100;

export async function jobsPage({ me, root, query }: PageContext): Promise<() => void> {
  // One route lists every kind the key may read (imports and optimisations with models:read, training and fine-tuning
  // with training:read), a page at a time: a page goes on from where the one before ended (next_before), so jobs
  // created meanwhile never move a later page. The page is kept in the address, so a reload or a link shows it again.
  let before = query.get('before') ?? '';
  const earlier: string[] = []; // where the pages before this one started ('' is the first page)
  const previous = h('button', { type: 'button', disabled: before === '' }, 'Previous page');
  const next = h('button', { type: 'button', disabled: true }, 'Next page');
  let nextBefore: string | null = null;

  async function fetchPage(): Promise<(Job & { source: string })[]> {
    for (;;) {
      const asked = before;
      const params = new URLSearchParams({ limit: String(jobsPageSize) });
      if (asked) params.set('before', asked);
      let res: { jobs: Job[]; next_before?: string };
      try {
        res = await api<{ jobs: Job[]; next_before?: string }>(`/api/v1/jobs?${params}`);
      } catch (e) {
        // A place no page gave (an edited address) starts again from the newest jobs.
        if (asked && e instanceof ApiError && e.status === 400 && before === asked) { before = ''; earlier.length = 0; continue; }
        throw e;
      }
      // Another page was asked for while this one was read: read that one.
      if (asked !== before) continue;
      nextBefore = res.next_before ?? null;
      next.disabled = nextBefore === null;
      previous.disabled = before === '';
      const kept = new URLSearchParams();
      if (before) kept.set('before', before);
      if (query.get('job')) kept.set('job', query.get('job')!);
      keepQuery('jobs', kept);
      const jobs = (res.jobs ?? []).map((job) => ({ ...job, kind: job.kind ?? 'job', source: '/api/v1/jobs' }));
      return before === '' ? [...await linkedJob(jobs), ...jobs] : jobs;
    }
  }

  // A job linked to (?job=, as the datasets page links the jobs that read a dataset) opens on the first page even
  // when it is older than the newest page: it is read by its id and shown above them. One gone (404) is left out.
  async function linkedJob(page: Job[]): Promise<(Job & { source: string })[]> {
    const id = query.get('job');
    if (!id || page.some((j) => j.id === id)) return [];
    try {
      const job = await api<Job>(`/api/v1/jobs/${seg(id)}`);
      return [{ ...job, kind: job.kind ?? 'job', source: '/api/v1/jobs' }];
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return [];
      throw e;
    }
  }

  const list = await jobList<Job & { source: string }>({
    caption: 'Jobs',
    empty: 'No jobs yet. Imports (model page) and training jobs show here.',
    load: fetchPage,
    id: (j) => j.id, status: (j) => j.status, progress: percentOf,
    progressLabel: (j) => { const pct = percentOf(j); return pct === null ? (j.bytes_done ? bytes(j.bytes_done) : '–') : `${pct.toFixed(0)}%`; },
    columns: [
      { title: 'Kind', cell: (j) => (j.kind === 'training' ? h('a', { href: `#/training/${seg(j.id)}` }, 'training') : j.kind === 'fine-tune' ? h('a', { href: `#/fine-tuning/${seg(j.id)}` }, 'fine-tune') : j.kind) },
      { title: 'Model', cell: (j) => (j.model ? h('a', { href: `#/models/${seg(j.model)}` }, `${j.model}${j.version ? ' v' + j.version : ''}`) : '–') },
      // A job that failed says why (and where), not the stage it was in as if still there.
      { title: 'Stage', cell: (j) => (j.error ? `${j.error.code}${j.stage ? ` (at ${j.stage})` : ''}` : j.stage ?? '–') },
      { title: 'Created', cell: (j) => when(j.created_at) },
    ],
    details,
    open: query.get('job') ? [query.get('job')!] : [],
    // A job whose cancel was already asked for, or that is registering its result, can no longer be cancelled (the
    // server would refuse with 409 job_finished): it says so instead of offering a button that can only fail.
    actions: (j, reload) => (isFinished(j.status) || !(can(me, 'models:write') || can(me, 'training:write')) ? null
      : j.cancel_requested ? h('span', { class: 'muted' }, 'Cancel requested')
        : j.finishing ? h('span', { class: 'muted', title: 'Past its point of no return: too late to cancel' }, 'Registering its result')
          : confirmButton('Cancel', 'Really cancel?', async () => { await api(`${j.source}/${seg(j.id)}`, { method: 'DELETE' }); await reload(); }, 'danger', `cancel:${j.id}`)),
    intervalMs: 1000,
  });
  next.addEventListener('click', () => { if (nextBefore === null) return; earlier.push(before); before = nextBefore; void list.reload(); });
  previous.addEventListener('click', () => { before = earlier.pop() ?? ''; void list.reload(); });
  replace(root, h('h1', null, 'Jobs'), list.element, h('nav', { class: 'pager', 'aria-label': 'Pages of jobs' }, previous, next));
  return list.stop;
}

/** Percent done: the job's own, else its epoch of epochs, else unknown. */
function percentOf(job: Job): number | null {
  return job.progress ?? (typeof job['epoch'] === 'number' && typeof job['epochs'] === 'number' ? (100 * (job['epoch'] as number)) / (job['epochs'] as number) : null);
}

// Events of the worker-run jobs whose details are open, fetched from where the last fetch ended.
const events = new Map<string, { after: number; list: JobEvent[]; busy: boolean; done: boolean; read: boolean }>();

function details(job: Job & { source?: string }): HTMLElement {
  const curve = lossCurve(job);
  const worker = job.kind !== 'import';
  if (worker) void fetchEvents(job);
  const state = events.get(job.id);
  const seen = state?.list ?? [];
  const charts = jobCharts(seen);
  return h('div', { class: 'job-details' },
    job.error ? h('p', { class: 'status error' }, `${job.error.code}: ${job.error.message}`) : null,
    curve,
    charts.length ? h('div', { class: 'charts' }, charts) : null,
    worker ? h('div', { class: 'job-events' }, h('h2', null, 'Events'), seen.length ? eventList(seen) : h('p', { class: 'muted', 'data-events': state?.read ? 'none' : 'loading' }, state?.read ? 'No events yet.' : 'Loading the events…')) : null,
    h('pre', { tabindex: 0 }, JSON.stringify(job, null, 2)));
}

async function fetchEvents(job: Job & { source?: string }): Promise<void> {
  const state = events.get(job.id) ?? { after: 0, list: [], busy: false, done: false, read: false };
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
    state.read = true;
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
