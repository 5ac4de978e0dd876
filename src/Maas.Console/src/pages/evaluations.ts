// Evaluations of a model version, on the model page: the metrics of an evaluation as tables and pictures (a confusion
// matrix heatmap and per-class bars for a classifier, the error measures of a regressor), which the version's
// training-time report uses too, and a version's evaluations on other datasets: a form that starts one and follows
// its job, the list of them, and the one selected.
import { api, can, cannotList, seg, type Me } from '../api';
import { barChart, heatmap } from '../chart';
import { field, h, num, replace, statusLine, tableBox, uid, when } from '../dom';
import { isFinished, progressCell, statusBadge } from '../joblist';
import type { ClassMetrics, ConfusionMatrix, Dataset, DatasetVersion, EvaluationMetrics, Job, Version } from '../types';

/** The metrics a table lists first, in this order, with their names for people; other numbers follow. */
const known: [string, string][] = [
  ['rows', 'Rows scored'], ['accuracy', 'Accuracy'], ['macro_precision', 'Macro precision'], ['macro_recall', 'Macro recall'],
  ['macro_f1', 'Macro F1'], ['log_loss', 'Log-loss'], ['auc', 'AUC'], ['rmse', 'RMSE'], ['mae', 'MAE'], ['r2', 'R²'],
];
const names = new Map(known);

/** The most classes drawn as a heatmap and as bars (the tables list them all). */
const MaxDrawnClasses = 40;

/** A metric's value for people: four decimals, whole numbers as they are. */
export const metric = (v: number | null | undefined): string => num(v, 4);

/** Evaluation metrics as a table of the headline numbers and, for a classifier, its classes and confusion matrix. */
export function metricsView(m: EvaluationMetrics, what: string): HTMLElement {
  const numbers = [...known.map(([k]) => k).filter((k) => k in m), ...Object.keys(m).filter((k) => !names.has(k))]
    .filter((k) => typeof m[k] === 'number' || (k === 'auc' && m[k] === null));
  const summary = tableBox('Metrics', h('table', { class: 'list compact metrics' },
    h('caption', null, `Metrics (${what})`),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Metric'), h('th', { scope: 'col' }, 'Value'))),
    h('tbody', null, numbers.map((k) => h('tr', { 'data-metric': k },
      h('th', { scope: 'row' }, names.get(k) ?? k),
      h('td', { class: 'number' }, m[k] === null ? 'undefined (one class only)' : metric(m[k] as number)))))));
  const perClass = validPerClass(m.per_class);
  const confusion = validConfusion(m.confusion_matrix);
  const charts: HTMLElement[] = [];
  if (confusion && confusion.labels.length <= MaxDrawnClasses) charts.push(heatmap(`Confusion matrix (${what})`, confusion.labels, confusion.matrix));
  if (perClass && perClass.length <= MaxDrawnClasses) {
    const classes = perClass.map(([c]) => c);
    charts.push(barChart(`Precision, recall and F1 per class (${what})`, classes,
      (['precision', 'recall', 'f1'] as const).map((k) => ({ name: k === 'f1' ? 'F1' : k, values: perClass.map(([, c]) => c[k]) })), metric, 1));
  }
  const many = (confusion && confusion.labels.length > MaxDrawnClasses) || (perClass && perClass.length > MaxDrawnClasses);
  return h('div', { class: 'metrics-view' }, summary,
    perClass ? classTable(perClass, what) : null,
    charts.length ? h('div', { class: 'charts' }, charts) : null,
    many ? h('p', { class: 'hint' }, `More than ${MaxDrawnClasses} classes: the tables and the raw JSON hold every one.`) : null);
}

function classTable(perClass: [string, ClassMetrics][], what: string): HTMLElement {
  return tableBox('Per class', h('table', { class: 'list compact per-class' },
    h('caption', null, `Per class (${what})`),
    h('thead', null, h('tr', null, ['Class', 'Precision', 'Recall', 'F1', 'Support'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, perClass.map(([name, c]) => h('tr', { 'data-class': name },
      h('th', { scope: 'row' }, name),
      [c.precision, c.recall, c.f1, c.support].map((v) => h('td', { class: 'number' }, metric(v))))))));
}

function validPerClass(value: unknown): [string, ClassMetrics][] | null {
  if (!value || typeof value !== 'object') return null;
  const rows = Object.entries(value as Record<string, ClassMetrics>).filter(([, c]) => c && typeof c === 'object' && typeof c.precision === 'number');
  return rows.length ? rows : null;
}

function validConfusion(value: unknown): ConfusionMatrix | null {
  const c = value as ConfusionMatrix | null | undefined;
  if (!c || !Array.isArray(c.labels) || !Array.isArray(c.matrix) || c.matrix.length !== c.labels.length) return null;
  return { labels: c.labels.map(String), matrix: c.matrix.map((row) => (Array.isArray(row) ? row.map(Number) : [])) };
}

/** The few numbers a list shows of an evaluation: accuracy, macro F1 and AUC, or RMSE and R². */
export function headline(m: EvaluationMetrics | null | undefined): string {
  if (!m) return '–';
  const keys = typeof m.accuracy === 'number' ? ['accuracy', 'macro_f1', 'auc'] : ['rmse', 'mae', 'r2'];
  const parts = keys.filter((k) => typeof m[k] === 'number').map((k) => `${names.get(k)} ${metric(m[k] as number)}`);
  return parts.length ? parts.join(' · ') : '–';
}

/** True for a version a MaaS training job registered (a table model or an image classifier): those can be evaluated. */
export function trainedByMaas(v: Version): boolean {
  return Boolean(v.metadata?.['maas.tabular'] || v.metadata?.['maas.image']);
}

/** What the version section needs of the model page. */
export interface EvaluationsContext { me: Me; model: string; version: Version; timers: number[] }

/**
 * A version's evaluations on other datasets (of a version MaaS trained: others cannot be evaluated): the form (for a
 * key that reads datasets), the list,
 * refreshed while one runs, and the selected evaluation's metrics.
 */
export function evaluationsView(ctx: EvaluationsContext): HTMLElement {
  const base = `/api/v1/models/${seg(ctx.model)}/versions/${ctx.version.version}/evaluations`;
  const list = h('div', { class: 'evaluation-list' });
  const listStatus = statusLine();
  const detail = h('div', { 'aria-live': 'polite' });
  let selected: string | null = null;
  let shown = '';
  let pending = 0;

  async function load(): Promise<void> {
    clearTimeout(pending);
    pending = 0;
    let jobs: Job[];
    try {
      jobs = (await api<{ evaluations: Job[] }>(base)).evaluations;
    } catch (e) { listStatus.error(e as Error); return; }
    listStatus.clear();
    selected ??= jobs.find((j) => j.status === 'succeeded')?.id ?? null;
    // A redraw must not take the focus from a keyboard user: it goes to the same job's button in the new table.
    const focused = list.contains(document.activeElement) ? document.activeElement?.closest('tr')?.getAttribute('data-job') : null;
    replace(list, jobs.length === 0 ? h('p', null, 'No evaluations of this version yet.') : evaluationTable(jobs, selected, (id) => { selected = id; void load(); }));
    if (focused) list.querySelector<HTMLButtonElement>(`tr[data-job="${CSS.escape(focused)}"] button`)?.focus();
    const current = jobs.find((j) => j.id === selected);
    // The selected evaluation is drawn again only when it changed (not at each refresh of a running one).
    const key = current ? `${current.id}:${current.status}` : '';
    if (key !== shown) {
      shown = key;
      replace(detail, current ? evaluationDetail(current) : null);
    }
    // Another evaluation may still run (started here, by the CLI or another tab): follow it until it ends.
    if (jobs.some((j) => !isFinished(j.status))) {
      clearTimeout(pending);
      pending = window.setTimeout(() => void load(), 1000);
      ctx.timers.push(pending);
    }
  }

  const form = can(ctx.me, 'datasets:read')
    ? evaluateForm(ctx, base, (id) => { selected = id; return load(); })
    : h('p', { class: 'muted' }, cannotList('datasets', ['datasets:read'], 'evaluating reads a dataset, so this key cannot start one'));
  void load();
  return h('div', { class: 'evaluations' },
    h('h3', null, 'Evaluations on other datasets'), form,
    h('h4', null, `Evaluations of version ${ctx.version.version}`), listStatus, list, detail);
}

function evaluationTable(jobs: Job[], selected: string | null, select: (id: string) => void): HTMLElement {
  return tableBox('Evaluations', h('table', { class: 'list' },
    h('caption', { class: 'sr-only' }, 'Evaluations'),
    h('thead', null, h('tr', null, ['Evaluation', 'Dataset', 'Started', 'Status', 'Rows', 'Metrics'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, jobs.map((j) => {
      const result = j.result as EvaluationMetrics | null | undefined;
      return h('tr', { 'data-job': j.id, 'data-status': j.status, 'aria-current': j.id === selected ? 'true' : null },
        h('td', null, h('button', {
          type: 'button', class: 'link', 'aria-pressed': j.id === selected ? 'true' : 'false', 'aria-label': `Show evaluation ${j.id}`, onclick: () => select(j.id),
        }, j.id)),
        h('td', null, datasetOf(j)),
        h('td', null, when(j.created_at)),
        h('td', null, isFinished(j.status) ? statusBadge(j.status) : [statusBadge(j.status), ' ', progressCell(j.id, j.progress ?? null)]),
        h('td', { class: 'number' }, typeof result?.rows === 'number' ? String(result.rows) : '–'),
        h('td', null, j.status === 'failed' ? (j.error?.code ?? 'failed') : headline(result)));
    }))));
}

function datasetOf(j: Job): string {
  // Every evaluation names its dataset (a finished one in its result as well).
  const d = (j['dataset'] as { name?: string; version?: number } | undefined) ?? (j.result as EvaluationMetrics | null | undefined)?.dataset;
  return d?.name ? `${d.name} v${d.version}` : '–';
}

/** One evaluation: what it scored, then its metrics as tables and pictures and its raw result; or why it failed. */
function evaluationDetail(j: Job): HTMLElement {
  const result = j.result as EvaluationMetrics | null | undefined;
  const what = datasetOf(j);
  return h('div', { class: 'evaluation-detail', 'data-job': j.id, 'data-status': j.status },
    h('h4', null, `Evaluation ${j.id} on ${what}`),
    j.status === 'succeeded' && result
      ? [h('p', { class: 'muted' }, `Label column ${result.label ?? '–'}; ${result.rows ?? '–'} rows scored; finished ${when((j['finished_at'] as string | undefined) ?? j.updated_at)}.`),
        metricsView(result, what),
        h('details', null, h('summary', null, 'Raw JSON'), h('pre', { tabindex: 0 }, JSON.stringify(result, null, 2)))]
      : j.status === 'failed' || j.status === 'cancelled'
        ? h('p', { class: 'status error' }, `${j.status}${j.error ? `: ${j.error.code}: ${j.error.message}` : ''}`)
        : h('p', { class: 'muted' }, `${j.status}: the metrics appear here when it ends.`));
}

/** Picks a dataset version and its label, starts the evaluation and follows its job to the end. */
function evaluateForm(ctx: EvaluationsContext, base: string, done: (id: string) => Promise<void>): HTMLElement {
  const v = ctx.version.version;
  const trained = ctx.version['lineage'] as { dataset?: { name?: string; version?: number }; label?: string } | null | undefined;
  const dataset = h('select', { required: true });
  const version = h('select', { required: true });
  const label = h('select', { required: true, id: uid('evaluation-label') });
  const limit = h('input', { type: 'number', min: 1, step: 1, placeholder: 'all' });
  const progress = h('progress', { max: 100, value: 0, 'aria-label': `Evaluation progress of version ${v}` });
  const status = statusLine();
  const button = h('button', { type: 'submit', class: 'primary' }, `Evaluate v${v}`);
  const labelHint = h('small', { class: 'hint' });

  async function loadVersions(): Promise<void> {
    if (!dataset.value) return;
    const d = await api<Dataset>(`/api/v1/datasets/${seg(dataset.value)}`);
    replace(version, (d.versions ?? []).slice().reverse().map((x) => h('option', { value: String(x.version) }, `v${x.version} (${x.rows} rows)`)));
    if (trained?.dataset?.name === dataset.value && trained.dataset.version && (d.versions ?? []).some((x) => x.version === trained.dataset!.version)) version.value = String(trained.dataset.version);
    await loadColumns();
  }

  async function loadColumns(): Promise<void> {
    if (!dataset.value || !version.value) return;
    const schema = await api<DatasetVersion>(`/api/v1/datasets/${seg(dataset.value)}/versions/${version.value}`);
    const columns = schema.schema.filter((c) => c.type !== 'image').map((c) => c.name);
    replace(label, schema.schema.filter((c) => c.type !== 'image').map((c) => h('option', { value: c.name }, `${c.name} (${c.type})`)));
    // The API's default is the label the version was trained with: chosen here when the dataset has that column.
    const preferred = trained?.label && columns.includes(trained.label) ? trained.label : columns[columns.length - 1] ?? '';
    label.value = preferred;
    labelHint.textContent = trained?.label
      ? columns.includes(trained.label) ? `Default: ${trained.label}, the column v${v} was trained with.` : `This dataset has no column ${trained.label} (the one v${v} was trained with): pick the label.`
      : 'The column with the true answers.';
  }

  void (async () => {
    try {
      const { datasets } = await api<{ datasets: Dataset[] }>('/api/v1/datasets');
      const usable = datasets.filter((x) => x.latest_version);
      replace(dataset, usable.map((x) => h('option', { value: x.name }, x.name)));
      if (usable.length === 0) { status.ok('No dataset to evaluate on yet: upload one on the Datasets page.'); button.disabled = true; return; }
      if (trained?.dataset?.name && usable.some((x) => x.name === trained.dataset!.name)) dataset.value = trained.dataset.name;
      await loadVersions();
    } catch (e) { status.error(e as Error); }
  })();
  dataset.addEventListener('change', () => void loadVersions().catch((e) => status.error(e as Error)));
  version.addEventListener('change', () => void loadColumns().catch((e) => status.error(e as Error)));

  const form = h('form', { class: 'evaluate card', 'aria-label': `Evaluate version ${v}` },
    h('div', { class: 'row' }, field('Dataset', dataset), field('Dataset version', version),
      h('div', { class: 'field' }, h('label', { for: label.id }, 'Label column'), label, labelHint),
      field('Rows to score (optional)', limit, 'The first rows; all when empty.')),
    button, progress, status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    button.disabled = true;
    progress.value = 0;
    try {
      const body: Record<string, unknown> = { dataset: { name: dataset.value, version: Number(version.value) } };
      // Left out when it is the trained label, so the API's own default applies.
      if (label.value !== trained?.label) body['label'] = label.value;
      if (limit.value.trim()) body['limit'] = Number(limit.value);
      const job = await api<Job>(base, { json: body });
      await done(job.id);
      const end = await followJob(ctx, job, progress, status);
      await done(end.id);
    } catch (err) { status.error(err as Error); } finally { button.disabled = false; }
  });
  return form;
}

/** Reads the job every half second, moving the bar and saying its stage, until it ends; a failure is shown. */
async function followJob(ctx: EvaluationsContext, start: Job, progress: HTMLProgressElement, status: ReturnType<typeof statusLine>): Promise<Job> {
  let job = start;
  while (!isFinished(job.status)) {
    status.ok(`Evaluation ${job.id}: ${job.status}${job.stage ? ' · ' + job.stage : ''} (${(job.progress ?? 0).toFixed(0)}%)`);
    await new Promise<void>((resolve) => ctx.timers.push(window.setTimeout(resolve, 500)));
    job = await api<Job>(`/api/v1/jobs/${seg(job.id)}`);
    progress.value = job.progress ?? 0;
  }
  if (job.status === 'succeeded') {
    progress.value = 100;
    status.ok(`Evaluation ${job.id} done: ${headline(job.result as EvaluationMetrics)}.`);
  } else {
    status.error(`Evaluation ${job.status}${job.error ? `: ${job.error.code}: ${job.error.message}` : ''}`);
  }
  return job;
}
