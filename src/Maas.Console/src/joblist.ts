// Jobs as the training, fine-tuning and jobs pages show them: one live table (link, status badge, progress bar and
// the page's own columns, refreshed until the page is left), and the pieces a job's own page draws with the same look.
import { ApiError } from './api';
import { barChart, lineChart, short } from './chart';
import { h, num, replace, statusLine, tableBox, type Child } from './dom';
import type { JobEvent } from './types';

/** Statuses after which a job no longer changes. */
export const finishedStatuses: readonly string[] = ['succeeded', 'failed', 'cancelled'];

/** True when the job has ended (succeeded, failed or cancelled). */
export const isFinished = (status: string): boolean => finishedStatuses.includes(status);

/** A job's status as a coloured badge. */
export function statusBadge(status: string): HTMLElement {
  return h('span', { class: `badge ${status}` }, status);
}

/** A progress bar with its label beside it; a null percent draws an indeterminate bar (the amount may still be known). */
export function progressCell(name: string, percent: number | null, label?: string): HTMLElement {
  return h('span', { class: 'progress-cell' },
    // The label comes before the value, so whatever watches the value sees which bar it is.
    h('progress', { max: 100, 'aria-label': `Progress of ${name}`, value: percent ?? undefined }), ' ', label ?? (percent === null ? '–' : `${percent.toFixed(0)}%`));
}

/** One column a page adds to the list. */
export interface JobColumn<T> { title: string; cell: (job: T) => Child }

/** What a page tells the list about its jobs. */
export interface JobListOptions<T> {
  /** The table's name for screen readers, e.g. "Training jobs". */
  caption: string;
  /** The text when there is no job. */
  empty: string;
  /** Fetches the jobs, newest first. */
  load: () => Promise<T[]>;
  id: (job: T) => string;
  status: (job: T) => string;
  /** Percent done, or null when unknown. */
  progress: (job: T) => number | null;
  /** Text beside the bar (default: the percent). */
  progressLabel?: (job: T) => string;
  /** The job's page; without it the job cell is its id (or, with details, a toggle). */
  href?: (job: T) => string;
  /** The page's columns, after Job, Status and Progress. */
  columns: JobColumn<T>[];
  /** When given, the job cell opens a row below the job with this. */
  details?: (job: T) => Child;
  /** Jobs whose details start open. */
  open?: string[];
  /** A last column of actions (cancel); reload refreshes the list at once. */
  actions?: (job: T, reload: () => Promise<void>) => Child;
  /** How often the list refreshes (default 2 s). */
  intervalMs?: number;
}

/** A live list of jobs: add `element` to the page, call `stop` when the page is left. */
export interface JobList { element: HTMLElement; reload: () => Promise<void>; stop: () => void }

/** Draws the list once, then refreshes it every few seconds until stopped. */
export async function jobList<T>(o: JobListOptions<T>): Promise<JobList> {
  const status = statusLine();
  // The list's box stays while its table is redrawn every few seconds: a table scrolled sideways stays where it was.
  const table = tableBox(o.caption);
  const open = new Set(o.open ?? []);
  let timer = 0;
  let stopped = false;
  const columns = ['Job', 'Status', 'Progress', ...o.columns.map((c) => c.title), ...(o.actions ? [''] : [])];

  function jobCell(job: T): Child {
    const id = o.id(job);
    if (o.details) {
      return h('button', { type: 'button', class: 'link', 'aria-expanded': open.has(id) ? 'true' : 'false', onclick: () => { if (open.has(id)) open.delete(id); else open.add(id); void reload(); } }, id.slice(0, 12));
    }
    return o.href ? h('a', { href: o.href(job) }, id) : id;
  }

  async function reload(): Promise<void> {
    try {
      const jobs = await o.load();
      replace(table, jobs.length === 0 ? h('p', null, o.empty) : h('table', { class: 'list' },
        h('caption', { class: 'sr-only' }, o.caption),
        h('thead', null, h('tr', null, columns.map((t) => h('th', { scope: 'col' }, t || h('span', { class: 'sr-only' }, 'Actions'))))),
        h('tbody', null, jobs.flatMap((job) => {
          const id = o.id(job);
          const row = h('tr', { 'data-job': id, 'data-status': o.status(job) },
            h('td', null, jobCell(job)),
            h('td', null, statusBadge(o.status(job))),
            h('td', null, progressCell(id, o.progress(job), o.progressLabel?.(job))),
            o.columns.map((c) => h('td', null, c.cell(job))),
            o.actions ? h('td', null, o.actions(job, reload)) : null);
          return o.details && open.has(id) ? [row, h('tr', { class: 'details' }, h('td', { colspan: columns.length }, o.details(job)))] : [row];
        }))));
      const running = jobs.filter((j) => !isFinished(o.status(j))).length;
      status.ok(`${jobs.length} job${jobs.length === 1 ? '' : 's'}; ${running} running. Updated ${new Date().toLocaleTimeString()}.`);
    } catch (e) { status.error(e as Error); }
  }

  async function loop(): Promise<void> {
    await reload();
    if (!stopped) timer = window.setTimeout(() => void loop(), o.intervalMs ?? 2000);
  }

  await loop();
  return { element: h('div', { class: 'job-list' }, status, table), reload, stop: () => { stopped = true; clearTimeout(timer); } };
}

/**
 * What a job's page does with a failed read: a job that does not exist (404, an unknown id or one the key may not
 * see) is not followed on; before the page drew it, the failure is the page's (an alert under its heading, as for
 * a missing model); later it stays in the status line. Any other failure is shown and the page tries again.
 */
export function gone(e: unknown, status: { error(text: string | Error): void }, drawn: boolean): boolean {
  if (e instanceof ApiError && e.status === 404) {
    if (!drawn) throw e;
    status.error(e);
    return true;
  }
  status.error(e as Error);
  return false;
}

/**
 * Follows one job on its page: calls `tick` now and then every `intervalMs` until it answers true (the job ended) or
 * the page is left; returns the clean-up.
 */
export async function follow(tick: () => Promise<boolean>, intervalMs = 1000): Promise<() => void> {
  let timer = 0;
  let stopped = false;
  async function step(): Promise<void> {
    if (await tick()) return;
    if (!stopped) timer = window.setTimeout(() => void step(), intervalMs);
  }
  await step();
  return () => { stopped = true; clearTimeout(timer); };
}

/**
 * The charts of a worker job's events: loss and accuracy per epoch (networks) or per boosting iteration (LightGBM and
 * FastTree, whose regressions report RMSE), the validation metrics per search trial, the final metrics per split.
 */
export function jobCharts(events: JobEvent[]): HTMLElement[] {
  const charts: HTMLElement[] = [];
  charts.push(...curves(events.filter((e) => e.type === 'epoch' || e.type === 'fine_tuning.metrics').map((e) => e.data), 'epoch'));
  charts.push(...curves(events.filter((e) => e.type === 'iteration').map((e) => e.data), 'iteration'));
  const trials = events.filter((e) => e.type === 'trial').map((e) => e.data).sort((a, b) => Number(a['trial']) - Number(b['trial']));
  if (trials.length) {
    const metrics = trials.map((t) => (t['metrics'] ?? {}) as Record<string, unknown>);
    const keys = [...new Set(metrics.flatMap((m) => Object.keys(m)))].filter((k) => metrics.some((m) => typeof m[k] === 'number'));
    // Trials counted from 1, as the CLI counts them (the event's `trial` is the 0-based index of the trial's job id).
    charts.push(lineChart('Validation metrics per trial', trials.map((t) => Number(t['trial']) + 1), keys.map((k) => ({ name: k, values: metrics.map((m) => (typeof m[k] === 'number' ? m[k] : null)) })), short, (x) => `trial ${x}`));
  }
  charts.push(...finalMetrics(events));
  return charts;
}

/** Line charts of rows keyed by `step` (an epoch or iteration number): losses, accuracies and RMSEs, one chart each. */
function curves(all: Record<string, unknown>[], step: string): HTMLElement[] {
  // A job taken over by another worker repeats its steps: the last row of a step wins.
  const byStep = new Map<number, Record<string, unknown>>();
  all.forEach((d, i) => byStep.set(typeof d[step] === 'number' ? d[step] : i + 1, d));
  const xs = [...byStep.keys()].sort((a, b) => a - b);
  const rows = xs.map((x) => byStep.get(x)!);
  if (!rows.length) return [];
  const keys = [...new Set(rows.flatMap((d) => Object.keys(d)))].filter((k) => k !== step && rows.some((d) => typeof d[k] === 'number'));
  const series = (match: (k: string) => boolean) => keys.filter(match).map((k) => ({ name: k, values: rows.map((d) => (typeof d[k] === 'number' ? d[k] : null)) }));
  const charts: HTMLElement[] = [];
  for (const [title, match] of [['Loss', (k: string) => k.includes('loss')], ['Accuracy', (k: string) => k.includes('accuracy')], ['RMSE', (k: string) => k.endsWith('rmse')]] as const) {
    const lines = series(match);
    if (lines.length) charts.push(lineChart(`${title} per ${step}`, xs, lines, short, (x) => `${step} ${x}`));
  }
  return charts;
}

/**
 * The trained model's evaluation on each split (metrics events): bars per metric, and the test split's confusion
 * matrix for a classifier. A tabular job without a search has no epochs or trials, so this is what it can show.
 */
function finalMetrics(events: JobEvent[]): HTMLElement[] {
  // The last event of a split wins: a retried job evaluates again.
  const splits = new Map(events
    .filter((e) => e.type === 'metrics' && typeof e.data['split'] === 'string' && typeof e.data['metrics'] === 'object' && e.data['metrics'] !== null)
    .map((e) => [String(e.data['split']), e.data['metrics'] as Record<string, unknown>]));
  if (splits.size === 0) return [];
  const out: HTMLElement[] = [];
  const names = [...new Set([...splits.values()].flatMap((m) => Object.keys(m)))].filter((k) => k !== 'rows' && [...splits.values()].some((m) => typeof m[k] === 'number'));
  if (names.length) {
    out.push(barChart('Final metrics per split', names, [...splits].map(([split, m]) => ({ name: split, values: names.map((k) => (typeof m[k] === 'number' ? (m[k] as number) : null)) })), (v) => num(v, 4)));
  }
  const [split, metrics] = splits.has('test') ? ['test', splits.get('test')!] : [...splits].pop()!;
  const confusion = metrics['confusion_matrix'] as { labels?: unknown[]; matrix?: unknown[][] } | undefined;
  if (confusion && Array.isArray(confusion.labels) && Array.isArray(confusion.matrix)) {
    const labels = confusion.labels.map(String);
    out.push(h('figure', { class: 'chart-box', id: 'confusion-matrix' }, h('figcaption', null, `Confusion matrix (${split}): rows are the true class, columns the predicted one`),
      tableBox('Confusion matrix', h('table', { class: 'list compact' },
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'True class')), labels.map((l) => h('th', { scope: 'col' }, l)))),
        h('tbody', null, confusion.matrix.map((row, i) => h('tr', null, h('th', { scope: 'row' }, labels[i] ?? String(i)),
          (Array.isArray(row) ? row : []).map((n, j) => h('td', { class: i === j ? 'diagonal' : null }, String(n))))))))));
  }
  return out;
}

/** A worker job's last events as a list (progress and checkpoint events left out: the bar shows them). */
export function eventList(events: JobEvent[]): HTMLElement {
  // Focusable, so a keyboard can scroll a long list.
  return h('ol', { class: 'events', tabindex: 0, 'aria-label': 'Job events' },
    events.filter((e) => e.type !== 'progress' && e.type !== 'checkpoint').slice(-50).map((e) => h('li', null, `${new Date(e.at).toLocaleTimeString()} ${e.type}: ${describe(e.data, e.type)}`)));
}

/** An event's fields as text; the field named like the event (a status event's status) is given by its value alone. */
function describe(data: Record<string, unknown>, type: string): string {
  if (typeof data['message'] === 'string') return data['message'];
  return Object.entries(data).filter(([, v]) => v !== null && typeof v !== 'object').map(([k, v]) => `${k === type ? '' : k + ' '}${typeof v === 'number' ? num(v, 4) : clip(String(v))}`).join(', ')
    + (typeof data['metrics'] === 'object' && data['metrics'] ? ` ${Object.entries(data['metrics'] as Record<string, unknown>).filter(([, v]) => typeof v === 'number').map(([k, v]) => `${k} ${num(v as number, 4)}`).join(', ')}` : '');
}

// A long value (an optimisation's report as JSON text) is cut: the job's own JSON has it whole.
function clip(text: string): string {
  return text.length > 160 ? `${text.slice(0, 160)}…` : text;
}
