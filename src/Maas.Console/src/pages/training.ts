// Training: a form that submits a job, the list of jobs, and a job's page that follows it live: progress, stage,
// epoch or iteration, the loss and accuracy curves per epoch (image training) or per boosting iteration (LightGBM,
// FastTree), the metric per trial (a hyperparameter search),
// the final metrics per split as bars (all a tabular job without a search has) with a classifier's confusion matrix, the latest
// metrics, and the registered version with its evaluation.
import { api, can, cannotList, seg } from '../api';
import { confirmButton, field, h, nameInput, num, replace, statusLine, tableBox, when } from '../dom';
import { eventList, follow, gone, isFinished, jobCharts, jobList, statusBadge } from '../joblist';
import type { Me } from '../api';
import type { PageContext } from '../main';
import type { Dataset, DatasetVersion, JobEvent, TrainingJob } from '../types';

const tasks = ['regression', 'binary-classification', 'multiclass-classification', 'image-classification'];
const trainers = ['', 'lightgbm', 'fasttree', 'sdca', 'lbfgs', 'adamw', 'sgd'];

export async function trainingPage({ me, root, query }: PageContext): Promise<() => void> {
  const form = can(me, 'training:write') ? await submitForm(me, query) : null;
  const jobs = await jobList<TrainingJob>({
    caption: 'Training jobs',
    empty: 'No training jobs yet.',
    load: async () => (await api<{ jobs: TrainingJob[] }>('/api/v1/training/jobs?limit=100')).jobs,
    id: (j) => j.id, status: (j) => j.status, progress: (j) => j.progress, href: (j) => `#/training/${seg(j.id)}`,
    columns: [
      { title: 'Stage', cell: (j) => j.stage ?? '–' }, { title: 'Model', cell: (j) => j.model ?? '–' }, { title: 'Dataset', cell: (j) => j.dataset ?? '–' },
      { title: 'Task', cell: (j) => j.task ?? '–' }, { title: 'Trainer', cell: (j) => j.trainer ?? '–' }, { title: 'Created', cell: (j) => when(j.created_at) },
    ],
  });
  replace(root, h('h1', null, 'Training'),
    form ? h('section', { 'aria-label': 'Train a model' }, h('h2', null, 'Train a model'), form) : null,
    h('section', { 'aria-label': 'Training jobs' }, h('h2', null, 'Jobs'), jobs.element));
  return jobs.stop;
}

async function submitForm(me: Me, query: URLSearchParams): Promise<HTMLElement> {
  const model = nameInput({ placeholder: 'my-model' });
  // A key that may train but not read datasets types the dataset and its label column: the API takes them so.
  const readsDatasets = can(me, 'datasets:read');
  const dataset = readsDatasets ? h('select', { required: true }) : h('input', { type: 'text', required: true, placeholder: 'name or name:version', value: query.get('dataset') ?? '' });
  const version = h('select', null);
  const task = h('select', null, tasks.map((t) => h('option', { value: t }, t)));
  const label = readsDatasets ? h('select', { required: true }) : h('input', { type: 'text', required: true, placeholder: 'e.g. label' });
  const trainer = h('select', null, trainers.map((t) => h('option', { value: t }, t || 'default for the task and size')));
  const hyperparameters = h('textarea', { rows: 2, placeholder: '{"iterations": 100} or, for images, {"epochs": 5, "batch_size": 32, "learning_rate": 0.001}' });
  const search = h('textarea', { rows: 2, placeholder: '{"method": "grid", "space": {"l2": [0.01, 0.1, 1]}}' });
  const network = h('textarea', { rows: 2, placeholder: 'image-classification: [{"type": "conv2d", "filters": 8, "kernel": 3, "padding": 1}, ...] (default: a small CNN)' });
  const status = statusLine();
  const hint = h('p', { class: 'muted', id: 'training-hint' });
  let schema: DatasetVersion | null = null;

  const wanted = query.get('dataset') ?? '';
  const [wantedName, wantedVersion] = wanted.split(':');
  if (!readsDatasets) {
    replace(hint, cannotList('datasets', ['datasets:read'], "type the dataset's name (name:version for one version) and its label column"));
  } else {
    try {
      const { datasets } = await api<{ datasets: Dataset[] }>('/api/v1/datasets');
      for (const d of datasets.filter((x) => x.latest_version)) dataset.appendChild(h('option', { value: d.name }, d.name));
      if (wantedName) dataset.value = wantedName;
      // An empty state, not an error: the way on is a link.
      if (datasets.length === 0) replace(hint, 'No dataset yet: ', can(me, 'datasets:write') ? h('a', { href: '#/datasets' }, 'upload one on the Datasets page') : 'ask for one to be shared with you', ' first.');
    } catch (e) { status.error(e as Error); }
  }

  async function loadVersions(): Promise<void> {
    if (!readsDatasets || !dataset.value) return;
    const d = await api<Dataset>(`/api/v1/datasets/${seg(dataset.value)}`);
    replace(version, (d.versions ?? []).slice().reverse().map((v) => h('option', { value: String(v.version) }, `v${v.version} (${v.rows} rows)`)));
    if (wantedVersion && dataset.value === wantedName) version.value = wantedVersion;
    await loadColumns();
  }

  async function loadColumns(): Promise<void> {
    if (!readsDatasets || !dataset.value || !version.value) return;
    schema = await api<DatasetVersion>(`/api/v1/datasets/${seg(dataset.value)}/versions/${version.value}`);
    const current = label.value;
    replace(label, schema.schema.filter((c) => c.type !== 'image').map((c) => h('option', { value: c.name }, `${c.name} (${c.type})`)));
    // The last column is the usual label; a column named label wins.
    const names = schema.schema.filter((c) => c.type !== 'image').map((c) => c.name);
    label.value = names.includes(current) ? current : names.includes('label') ? 'label' : names[names.length - 1] ?? '';
    suggestTask();
  }

  // The task follows the label column until the user picks one: a number is a regression, text or true/false a
  // classification (binary for two classes), a dataset of pictures an image classification.
  let taskChosen = false;
  task.addEventListener('change', () => { taskChosen = true; });
  function suggestTask(): void {
    if (taskChosen || !schema) return;
    if (schema.schema.some((c) => c.type === 'image')) { task.value = 'image-classification'; return; }
    const column = schema.schema.find((c) => c.name === label.value);
    const distinct = schema.statistics?.find((c) => c.name === label.value)?.distinct;
    if (column?.type === 'number') task.value = 'regression';
    else if (column?.type === 'boolean' || distinct === 2) task.value = 'binary-classification';
    else if (column?.type === 'string') task.value = 'multiclass-classification';
  }
  label.addEventListener('change', suggestTask);

  dataset.addEventListener('change', () => void loadVersions().catch((e) => status.error(e as Error)));
  version.addEventListener('change', () => void loadColumns().catch((e) => status.error(e as Error)));
  try { await loadVersions(); } catch (e) { status.error(e as Error); }

  const form = h('form', { class: 'card' }, hint,
    h('div', { class: 'row' }, field('Model name', model, 'Created when it does not exist.'), field('Dataset', dataset), readsDatasets ? field('Dataset version', version) : null),
    h('div', { class: 'row' }, field('Task', task), field('Label column', label), field('Trainer', trainer)),
    field('Hyperparameters (JSON, optional)', hyperparameters),
    field('Hyperparameter search (JSON, optional)', search),
    field('Network layers (JSON, optional)', network),
    h('button', { type: 'submit', class: 'primary' }, 'Start training'), status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body: Record<string, unknown> = { model: model.value.trim(), dataset: readsDatasets ? `${dataset.value}:${version.value}` : dataset.value.trim(), task: task.value, label: label.value.trim() };
    if (trainer.value) body['trainer'] = trainer.value;
    try {
      for (const [key, area] of [['hyperparameters', hyperparameters], ['search', search], ['network', network]] as const) {
        if (area.value.trim()) {
          try { body[key] = JSON.parse(area.value); } catch (err) { throw new Error(`${key} is not valid JSON: ${(err as Error).message}`); }
        }
      }
      const job = await api<TrainingJob>('/api/v1/training/jobs', { json: body });
      location.hash = `#/training/${seg(job.id)}`;
    } catch (err) { status.error(err as Error); }
  });
  return form;
}

export async function trainingJobPage({ me, root, params }: PageContext): Promise<() => void> {
  const id = params[0]!;
  const base = `/api/v1/training/jobs/${seg(id)}`;
  const events: JobEvent[] = [];
  let after = 0;
  const view = h('div');
  const status = statusLine();
  replace(root, h('p', null, h('a', { href: '#/training' }, '← Training')), h('h1', null, `Training job ${id}`), status, view);

  let drawn = false;
  async function tick(): Promise<boolean> {
    try {
      const job = await api<TrainingJob>(base);
      for (;;) {
        const page = await api<{ events: JobEvent[]; next_after: number }>(`${base}/events?after=${after}&limit=1000`);
        events.push(...page.events);
        after = page.next_after;
        if (page.events.length < 1000) break;
      }
      draw(job);
      drawn = true;
      status.ok(`Updated ${new Date().toLocaleTimeString()}.`);
      return isFinished(job.status);
    } catch (e) { return gone(e, status, drawn); }
  }

  function draw(job: TrainingJob): void {
    const evaluation = job.result?.evaluation;
    const charts = jobCharts(events);
    // A search's parent counts its finished trials in `iteration` while it searches; later, its trial events do.
    const searching = job.stage === 'searching';
    const trialsDone = searching ? job.iteration ?? 0 : new Set(events.filter((e) => e.type === 'trial').map((e) => String(e.data['trial']))).size;
    // A table (tabular) job has no epochs: it shows its boosting iteration when it has one, else no counter at all
    // (not "Epoch –"); a network shows its epoch, "–" before the first.
    const hasEpochs = job.task === 'image-classification' || (job.epoch !== null && job.epoch !== undefined);
    const counter = searching ? null : job.iteration !== null && job.iteration !== undefined
      ? [h('dt', null, 'Iteration'), h('dd', null, String(job.iteration))]
      : hasEpochs ? [h('dt', null, 'Epoch'), h('dd', null, job.epoch === null || job.epoch === undefined ? '–' : String(job.epoch))] : null;
    // Shown only when the server could estimate it (from the time the work done so far took).
    const left = typeof job.eta_seconds === 'number' && !isFinished(job.status) ? [h('dt', null, 'Time left'), h('dd', { id: 'training-time-left' }, `about ${duration(job.eta_seconds)}`)] : null;
    replace(view,
      h('dl', { class: 'facts', id: 'training-status', 'data-status': job.status },
        h('dt', null, 'Status'), h('dd', null, statusBadge(job.status), job.cancel_requested && !isFinished(job.status) ? ' (cancel requested)' : job.finishing && !isFinished(job.status) ? ' (registering its result: too late to cancel)' : ''),
        h('dt', null, 'Model'), h('dd', null, job.model ?? '–'), h('dt', null, 'Dataset'), h('dd', null, job.dataset ?? '–'),
        h('dt', null, 'Task'), h('dd', null, job.task ?? '–'), h('dt', null, 'Trainer'), h('dd', null, job.trainer ?? '–'),
        h('dt', null, 'Stage'), h('dd', null, job.stage ?? '–'),
        job.search_trials ? [h('dt', null, 'Trials'), h('dd', { id: 'training-trials' }, `${trialsDone} of ${job.search_trials} done`)] : null,
        counter, left,
        h('dt', null, 'Created'), h('dd', null, when(job.created_at)), h('dt', null, 'Finished'), h('dd', null, when(job.finished_at))),
      h('progress', { max: 100, 'aria-label': 'Training progress', value: job.progress }), h('p', null, `${job.progress.toFixed(0)}% done`),
      job.error ? h('p', { class: 'status error', role: 'alert' }, `${job.error.code}: ${job.error.message}`) : null,
      can(me, 'training:write') && !isFinished(job.status) && !job.finishing && !job.cancel_requested ? confirmButton('Cancel job', 'Really cancel?', async () => { await api(`${base}/cancel`, { method: 'POST' }); }, 'danger', `cancel:${job.id}`) : null,
      charts.length ? h('section', { 'aria-label': 'Charts' }, h('h2', null, 'Charts'), h('div', { class: 'charts' }, charts)) : null,
      Object.keys(job.metrics ?? {}).length ? h('section', { 'aria-label': 'Latest metrics' }, h('h2', null, 'Latest metrics'), metricsTable(job.metrics ?? {})) : null,
      job.result?.model ? h('section', { 'aria-label': 'Result' }, h('h2', null, 'Result'),
        h('p', null, 'Registered as ', h('a', { href: `#/models/${seg(job.result.model)}` }, `${job.result.model} version ${job.result.version}`), '.'),
        evaluation ? metricsTable(Object.fromEntries(Object.entries(evaluation).filter((e): e is [string, number] => typeof e[1] === 'number'))) : null) : null,
      h('section', { 'aria-label': 'Events' }, h('h2', null, 'Events'), eventList(events)));
  }

  return follow(tick);
}

/** Seconds for people: "40 s", "3 min", "1 h 5 min". */
function duration(seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 90) return `${s} s`;
  const min = Math.round(s / 60);
  return min < 90 ? `${min} min` : `${Math.floor(min / 60)} h ${min % 60} min`;
}

function metricsTable(metrics: Record<string, number>): HTMLElement {
  return tableBox('Metrics', h('table', { class: 'list compact' },
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Metric'), h('th', { scope: 'col' }, 'Value'))),
    h('tbody', null, Object.entries(metrics).map(([k, v]) => h('tr', null, h('th', { scope: 'row' }, k), h('td', null, num(v, 4)))))));
}
