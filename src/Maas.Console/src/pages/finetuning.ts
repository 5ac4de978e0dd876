// Fine-tuning (OpenAI's files and fine-tuning routes): start a job from a file of chats (uploaded with a progress bar), the list of jobs, and a
// job's page with its progress, the training and validation loss per epoch, and the model to chat with.
import { api, can, cannotList, seg, sendWithProgress } from '../api';
import { bytes, confirmButton, field, h, replace, statusLine } from '../dom';
import { follow, gone, isFinished, jobCharts, jobList, statusBadge } from '../joblist';
import type { Me } from '../api';
import type { PageContext } from '../main';
import type { JobEvent } from '../types';

interface FineTuningJob {
  id: string; model: string; status: string; fine_tuned_model?: string | null; training_file: string; validation_file?: string | null;
  hyperparameters?: Record<string, unknown>; trained_tokens?: number | null; error?: { code: string; message: string } | null;
  created_at: number; finished_at?: number | null; progress?: number | null;
}

const time = (unix: number | null | undefined): string => (unix ? new Date(unix * 1000).toLocaleString() : '–');

export async function fineTuningPage({ me, root }: PageContext): Promise<() => void> {
  const form = can(me, 'training:write') ? await createForm(me) : null;
  const jobs = await jobList<FineTuningJob>({
    caption: 'Fine-tuning jobs',
    empty: 'No fine-tuning jobs yet.',
    load: async () => (await api<{ data: FineTuningJob[] }>('/v1/fine_tuning/jobs?limit=100')).data,
    id: (j) => j.id, status: (j) => j.status, progress: (j) => j.progress ?? 0, href: (j) => `#/fine-tuning/${seg(j.id)}`,
    columns: [
      { title: 'Base', cell: (j) => j.model }, { title: 'Fine-tuned model', cell: (j) => j.fine_tuned_model ?? '–' }, { title: 'Created', cell: (j) => time(j.created_at) },
    ],
  });
  replace(root, h('h1', null, 'Fine-tuning'),
    form ? h('section', { 'aria-label': 'Fine-tune an LLM' }, h('h2', null, 'Fine-tune an LLM'), form) : null,
    h('section', { 'aria-label': 'Fine-tuning jobs' }, h('h2', null, 'Jobs'), jobs.element));
  return jobs.stop;
}

async function createForm(me: Me): Promise<HTMLElement> {
  // A key that may fine-tune but not list models (neither infer nor models:read) types the base model's name.
  const listsModels = can(me, 'infer') || can(me, 'models:read');
  const base = listsModels ? h('select', { required: true }) : h('input', { type: 'text', required: true, placeholder: 'e.g. demo-llm' });
  const file = h('input', { type: 'file', required: true, accept: '.jsonl,.ndjson,.json' });
  const validation = h('input', { type: 'file', accept: '.jsonl,.ndjson,.json' });
  const epochs = h('input', { type: 'number', min: 1, max: 100, placeholder: 'auto' });
  const suffix = h('input', { type: 'text', placeholder: 'optional', pattern: '[A-Za-z0-9._-]*' });
  const progress = h('progress', { max: 100, value: 0, 'aria-label': 'Chats upload progress' });
  const status = statusLine();
  const hint = h('p', { class: 'muted', id: 'fine-tuning-hint' });
  if (!listsModels) {
    replace(hint, cannotList('models', ['infer', 'models:read'], "type the base model's name"));
  } else {
    try {
      const { data } = await api<{ data: { id: string }[] }>('/v1/models');
      for (const m of data) base.appendChild(h('option', { value: m.id }, m.id));
      if (data.length === 0) status.error('No LLM (GGUF model) is visible to this key.');
    } catch (e) { status.error(e as Error); }
  }

  // One bar for both files: each file's share of the bytes, filled as its upload goes.
  async function upload(chosen: File, before: number, total: number): Promise<string> {
    const form = new FormData();
    form.append('purpose', 'fine-tune');
    form.append('file', chosen, chosen.name);
    const res = await sendWithProgress('POST', '/v1/files', form, {}, (sent, size) => {
      const done = before + (size > 0 ? Math.min(1, sent / size) : 0) * chosen.size;
      progress.value = total > 0 ? Math.round((100 * done) / total) : 0;
      status.ok(`Uploading ${chosen.name}: ${bytes(done)} of ${bytes(total)} (${progress.value}%)`);
    });
    return (res.json as { id: string }).id;
  }

  const form = h('form', { class: 'card' }, hint,
    h('div', { class: 'row' }, field('Base model', base), field('Epochs', epochs), field('Suffix', suffix)),
    field('Training chats (JSON Lines of {"messages": [...]})', file),
    field('Validation chats (optional)', validation),
    h('button', { type: 'submit', class: 'primary' }, 'Start fine-tuning'), progress, status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return;
    const held = validation.files?.[0];
    const total = chosen.size + (held?.size ?? 0);
    try {
      progress.value = 0;
      const training = await upload(chosen, 0, total);
      const validationFile = held ? await upload(held, chosen.size, total) : undefined;
      progress.value = 100;
      status.ok(`Uploaded ${held ? `${chosen.name} and ${held.name}` : chosen.name} (${bytes(total)}); starting the job…`);
      const job = await api<FineTuningJob>('/v1/fine_tuning/jobs', {
        json: { model: base.value.trim(), training_file: training, validation_file: validationFile, suffix: suffix.value.trim() || undefined, hyperparameters: epochs.value ? { n_epochs: Number(epochs.value) } : undefined },
      });
      location.hash = `#/fine-tuning/${seg(job.id)}`;
    } catch (err) { status.error(err as Error); }
  });
  return form;
}

export async function fineTuningJobPage({ me, root, params }: PageContext): Promise<() => void> {
  const id = params[0]!;
  const events: JobEvent[] = [];
  const view = h('div');
  const status = statusLine();
  replace(root, h('p', null, h('a', { href: '#/fine-tuning' }, '← Fine-tuning')), h('h1', null, `Fine-tuning job ${id}`), status, view);

  let drawn = false;
  async function tick(): Promise<boolean> {
    try {
      const job = await api<FineTuningJob>(`/v1/fine_tuning/jobs/${seg(id)}`);
      // OpenAI's events come newest first: per epoch a metrics event with the losses, and messages.
      const page = await api<{ data: { created_at: number; type: string; message: string; data?: Record<string, unknown> | null }[] }>(`/v1/fine_tuning/jobs/${seg(id)}/events?limit=100`);
      events.splice(0, events.length, ...page.data.slice().reverse().map((e, i) => ({
        seq: i, at: new Date(e.created_at * 1000).toISOString(), type: e.type === 'metrics' ? 'fine_tuning.metrics' : 'fine_tuning.message',
        data: e.type === 'metrics' && e.data ? e.data : { message: e.message },
      })));
      draw(job);
      drawn = true;
      status.ok(`Updated ${new Date().toLocaleTimeString()}.`);
      return isFinished(job.status);
    } catch (e) { return gone(e, status, drawn); }
  }

  function draw(job: FineTuningJob): void {
    const charts = jobCharts(events);
    const messages = events.filter((e) => e.type === 'fine_tuning.message' || e.type === 'log');
    replace(view,
      h('dl', { class: 'facts', id: 'fine-tuning-status', 'data-status': job.status },
        h('dt', null, 'Status'), h('dd', null, statusBadge(job.status)),
        h('dt', null, 'Base'), h('dd', null, job.model),
        h('dt', null, 'Fine-tuned model'), h('dd', null, job.fine_tuned_model ? h('a', { href: `#/playground?tab=chat&model=${seg(job.fine_tuned_model)}` }, job.fine_tuned_model) : '–'),
        h('dt', null, 'Training file'), h('dd', null, job.training_file), h('dt', null, 'Validation file'), h('dd', null, job.validation_file ?? '–'),
        h('dt', null, 'Hyperparameters'), h('dd', null, JSON.stringify(job.hyperparameters ?? {})),
        h('dt', null, 'Trained tokens'), h('dd', null, job.trained_tokens ? String(job.trained_tokens) : '–'),
        h('dt', null, 'Created'), h('dd', null, time(job.created_at)), h('dt', null, 'Finished'), h('dd', null, time(job.finished_at))),
      h('progress', { max: 100, 'aria-label': 'Fine-tuning progress', value: job.progress ?? 0 }), h('p', null, `${(job.progress ?? 0).toFixed(0)}% done`),
      job.error ? h('p', { class: 'status error', role: 'alert' }, `${job.error.code}: ${job.error.message}`) : null,
      // Asks once more, as every cancel does; a refusal (400 job_finished: it ended meanwhile, or is registering its
      // model) is shown under the heading, where the next redraw does not wipe it.
      can(me, 'training:write') && !isFinished(job.status)
        ? confirmButton('Cancel job', 'Really cancel?', async () => { await api(`/v1/fine_tuning/jobs/${seg(id)}/cancel`, { method: 'POST' }); }, 'danger', `cancel:${id}`)
        : null,
      charts.length ? h('section', { 'aria-label': 'Loss' }, h('h2', null, 'Loss'), h('div', { class: 'charts' }, charts)) : null,
      messages.length ? h('section', { 'aria-label': 'Messages' }, h('h2', null, 'Messages'), h('ol', { class: 'events' },
        messages.slice(-50).map((e) => h('li', null, `${new Date(e.at).toLocaleTimeString()} ${String(e.data['message'] ?? '')}`)))) : null);
  }

  return follow(tick);
}
