// One model: versions with signature, lineage, size and format; aliases (move); serving config; the training-time
// evaluation and evaluations on other datasets (started, followed and drawn here);
// upload (resumable for big files) and import from a URL, both with progress; delete.
import { api, can, resolveDeployment, seg, sendWithProgress, type ResolvedDeployment } from '../api';
import { actionError, bytes, confirmButton, field, h, num, replace, statusLine, tableBox, when } from '../dom';
import type { PageContext } from '../main';
import type { Alias, EvaluationMetrics, Job, Model, TensorSpec, Version } from '../types';
import { actor, keyNames, type KeyNames } from '../keynames';
import { evaluationsView, metricsView, trainedByMaas } from './evaluations';

/** Files at or above this size go through the resumable upload API in chunks. */
export const ResumableFrom = 8 * 1024 * 1024;
const ChunkBytes = 4 * 1024 * 1024;

export async function modelPage({ me, root, params }: PageContext): Promise<() => void> {
  const name = params[0]!;
  const writable = can(me, 'models:write');
  const base = `/api/v1/models/${seg(name)}`;
  const timers: number[] = [];

  /**
   * Draws the page from the server's answers. With `keepOpen`, the version details already in the page stay as they
   * are (open, with their evaluations and a form following its job) and only new versions get new ones.
   */
  async function draw(keepOpen = false): Promise<void> {
    const model = await api<Model>(base);
    const { versions } = await api<{ versions: Version[] }>(`${base}/versions`);
    const aliases = (model.aliases as Alias[] | undefined) ?? [];
    const routed = await resolveDeployment(name);
    const names = await keyNames(me);
    // The page was left while the answers came (a job's end redraws it): another page is drawn in its place.
    if (!root.isConnected) return;
    const shown = new Map<number, Element>();
    if (keepOpen) root.querySelectorAll('details.version[data-version]').forEach((d) => shown.set(Number(d.getAttribute('data-version')), d));
    const focused = document.activeElement;
    replace(root,
      h('p', null, h('a', { href: '#/models' }, '← Models')),
      h('h1', null, model.name),
      h('p', { class: 'muted' }, model.description || 'No description.'),
      h('dl', { class: 'facts' },
        fact('Task', model.task ?? '–'), fact('Tags', (model.tags ?? []).join(', ') || '–'), fact('Owner', model.owner ?? '–'),
        fact('Visibility', model.visibility ?? '–'), fact('Latest version', String(model.latest_version ?? '–')), fact('Updated', when(model.updated_at))),
      routed ? section('Deployment', deploymentNote(name, routed)) : null,
      section('Versions', versions.length === 0 ? h('p', null, 'No ready version yet.') : versionsTable(versions)),
      versions.map((v) => shown.get(v.version) ?? versionDetails(v, names)),
      section('Aliases', aliasesView(aliases, versions, names)),
      section('Serving configuration', configView(model.serving_config ?? {})),
      writable ? section('Upload a version', uploadForm()) : null,
      writable ? section('Import a version from a URL', importForm()) : null,
      writable ? section('Delete the model', h('div', null,
        h('p', null, 'Removes every version, alias and artifact of this model.'),
        confirmButton('Delete model', `Really delete ${model.name}?`, async () => {
          await api(`${base}?force=true`, { method: 'DELETE' });
          location.hash = '#/models';
        }))) : null);
    // A kept version's control had the focus: moving its details out and back in took it away.
    if (focused instanceof HTMLElement && focused.isConnected && document.activeElement !== focused) focused.focus({ preventScroll: true });
  }

  function versionsTable(versions: Version[]): HTMLElement {
    return tableBox('Versions', h('table', { class: 'list' },
      h('caption', { class: 'sr-only' }, 'Versions'),
      h('thead', null, h('tr', null, ['Version', 'Format', 'Size', 'File', 'Aliases', 'Derived from', 'Created', ''].map((t) => h('th', { scope: 'col' }, t || h('span', { class: 'sr-only' }, 'Actions'))))),
      h('tbody', null, versions.map((v) => h('tr', null,
        h('td', null, h('a', { href: `#/models/${seg(name)}?v=${v.version}`, onclick: (e: Event) => { e.preventDefault(); document.getElementById(`v${v.version}`)?.setAttribute('open', ''); document.getElementById(`v${v.version}`)?.scrollIntoView(); } }, `v${v.version}`)),
        h('td', null, v.format),
        h('td', null, bytes(v.size_bytes)),
        h('td', null, v.file_name),
        h('td', null, (v.aliases ?? []).join(', ') || '–'),
        h('td', null, lineage(v)),
        h('td', null, when(v.created_at)),
        h('td', null, writable ? confirmButton('Delete', `Really delete v${v.version}?`, async () => {
          await api(`${base}/versions/${v.version}?force=true`, { method: 'DELETE' });
          await draw();
        }) : null))))));
  }

  function versionDetails(v: Version, names: KeyNames): HTMLElement {
    const sig = v.signature ?? {};
    const evaluation = v['evaluation'] ?? v['evaluation_report'] ?? v.metadata?.['evaluation'];
    const other = Object.entries(sig).filter(([k]) => k !== 'inputs' && k !== 'outputs' && k !== 'file_metadata' && k !== 'class_labels');
    // The class names serving answers with (serving config, then MaaS's metadata, then the file's classifier nodes);
    // the file's own are shown apart only where they differ (a trained table model's file numbers its classes 1, 2, 3).
    const served = v.output_labels ?? {};
    const inFile = (sig['class_labels'] ?? {}) as Record<string, string[]>;
    const labelFacts = [
      ...Object.entries(served).map(([output, names]) => fact(`Classes of ${output}`, names.join(', '))),
      ...Object.entries(inFile).filter(([output, names]) => JSON.stringify(served[output]) !== JSON.stringify(names))
        .map(([output, names]) => fact(`Classes of ${output} in the file`, names.join(', '))),
    ];
    // The version's evaluations are read when its details are first opened, not for every version the page lists.
    // Only a version a MaaS training job registered can be evaluated (MaaS knows which columns it takes).
    const evaluations = h('div', { class: 'version-evaluations' });
    const opened = (e: Event): void => {
      if (!(e.target as HTMLDetailsElement).open || evaluations.childElementCount || !trainedByMaas(v)) return;
      replace(evaluations, evaluationsView({ me, model: name, version: v, timers }));
    };
    return h('details', { id: `v${v.version}`, class: 'card version', 'data-version': v.version, ontoggle: opened },
      h('summary', null, `Version ${v.version} · ${v.format} · ${bytes(v.size_bytes)}`),
      h('dl', { class: 'facts' }, fact('SHA-256', v.sha256), fact('Status', v.status), fact('Created by', actor(names, v.created_by)), fact('Lineage', lineage(v))),
      sig.inputs ? h('div', null, h('h3', null, 'Inputs'), tensorTable(sig.inputs)) : null,
      sig.outputs ? h('div', null, h('h3', null, 'Outputs'), tensorTable(sig.outputs)) : null,
      other.length || labelFacts.length ? h('div', null, h('h3', null, 'Signature'), h('dl', { class: 'facts' },
        labelFacts, other.map(([k, val]) => fact(k, typeof val === 'object' ? JSON.stringify(val) : String(val))))) : null,
      trainingLineage(v),
      metadataView(v.metadata),
      evaluation ? trainingEvaluation(evaluation) : null,
      evaluations,
      (v.files?.length ?? 0) > 1 ? h('div', null, h('h3', null, 'Files'), h('ul', null, v.files!.map((f) => h('li', null, `${f.path} (${bytes(f.size_bytes)})`)))) : null,
      optimisationView(v),
      writable && (v.format === 'onnx' || v.format === 'gguf') ? h('div', null, h('h3', null, `Optimise version ${v.version}`), optimiseForm(v)) : null);
  }

  /** Starts an optimisation of a version and follows it to its result: the new version, ready or rejected, with its report. */
  function optimiseForm(v: Version): HTMLElement {
    const methods = v.format === 'gguf' ? ['gguf-quantize'] : ['onnx-int8-dynamic', 'onnx-fp16', 'onnx-int4', 'onnx-optimize', 'prune-magnitude', 'prune-structured'];
    const method = h('select', null, methods.map((m) => h('option', { value: m }, m)));
    const options = h('input', { type: 'text', value: v.format === 'gguf' ? '{"type": "q8_0"}' : '', placeholder: '{"samples": 8} or {"sparsity": 0.5}' });
    const gate = h('input', { type: 'text', placeholder: v.format === 'gguf' ? 'default {"max_perplexity_increase": 0.1}' : 'default {"max_relative_mean_abs_diff": 0.05, "min_top1_agreement": 0.9}' });
    const alias = h('input', { type: 'text', placeholder: 'optional: moves when ready' });
    const progress = h('progress', { max: 100, value: 0, 'aria-label': `Optimisation progress of version ${v.version}` });
    const status = statusLine();
    const result = h('div', { class: 'optimisation-result', 'aria-live': 'polite' });
    const button = h('button', { type: 'submit' }, `Optimise v${v.version}`);
    const form = h('form', { class: 'optimise' },
      h('div', { class: 'row' }, field('Method', method), field('Options (JSON)', options), field('Gate (JSON)', gate), field('Alias when ready', alias)),
      button, progress, status, result);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      button.disabled = true;
      try {
        const parse = (text: string, what: string): unknown => {
          if (!text.trim()) return undefined;
          try { return JSON.parse(text); } catch (err) { throw new Error(`${what} is not valid JSON: ${(err as Error).message}`); }
        };
        let job = await api<Job>(`${base}/versions/${v.version}:optimize`, {
          json: { method: method.value, options: parse(options.value, 'Options'), gate: parse(gate.value, 'Gate'), alias: alias.value.trim() || undefined },
        });
        while (!['succeeded', 'failed', 'cancelled'].includes(job.status)) {
          status.ok(`Job ${job.id}: ${job.status}${job.stage ? ' · ' + job.stage : ''} (${(job.progress ?? 0).toFixed(0)}%)`);
          await new Promise<void>((resolve) => timers.push(window.setTimeout(resolve, 500)));
          job = await api<Job>(`/api/v1/jobs/${seg(job.id)}`);
          progress.value = job.progress ?? 0;
        }
        if (job.status !== 'succeeded') { status.error(`Optimisation ${job.status}: ${job.error ? `${job.error.code}: ${job.error.message}` : ''}`); return; }
        progress.value = 100;
        const outcome = job.result as { model: string; version: number; status: string; report?: Record<string, unknown> };
        status.ok(`Job ${job.id} done: version ${outcome.version} is ${outcome.status}.`);
        replace(result, resultView(outcome.version, outcome.status, outcome.report ?? {}),
          h('button', { type: 'button', onclick: () => { const d = document.getElementById(`v${outcome.version}`); d?.setAttribute('open', ''); d?.scrollIntoView(); } }, `Show version ${outcome.version}`));
        // The new version joins the page at once (its row, its details, an alias the job moved); this form, its report
        // and every open version stay as they are.
        await draw(true).catch((err) => actionError(form, `Showing version ${outcome.version}: ${(err as Error).message}`));
      } catch (err) { status.error(err as Error); } finally { button.disabled = false; }
    });
    return form;
  }

  function aliasesView(aliases: Alias[], versions: Version[], names: KeyNames): HTMLElement {
    const table = aliases.length === 0 ? h('p', null, 'No aliases.') : tableBox('Aliases', h('table', { class: 'list' },
      h('caption', { class: 'sr-only' }, 'Aliases'),
      h('thead', null, h('tr', null, ['Alias', 'Version', 'Updated', 'By', ''].map((t) => h('th', { scope: 'col' }, t || h('span', { class: 'sr-only' }, 'Actions'))))),
      h('tbody', null, aliases.map((a) => h('tr', null, h('td', null, a.name), h('td', null, `v${a.version}`), h('td', null, when(a.updated_at)), h('td', null, actor(names, a.updated_by)),
        h('td', null, writable ? confirmButton('Remove', `Really remove ${a.name}?`, async () => { await api(`${base}/aliases/${seg(a.name)}`, { method: 'DELETE' }); await draw(); }) : null))))));
    if (!writable || versions.length === 0) return table;
    const alias = h('input', { type: 'text', value: 'production', required: true });
    const version = h('select', null, versions.map((v) => h('option', { value: String(v.version) }, `v${v.version}`)));
    version.value = String(versions[versions.length - 1]!.version);
    const status = statusLine();
    const form = h('form', { class: 'row' }, field('Alias', alias), field('Version', version), h('button', { type: 'submit' }, 'Move alias'), status);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        await api(`${base}/aliases/${seg(alias.value.trim())}`, { method: 'PUT', json: { version: Number(version.value) } });
        await draw();
      } catch (err) { status.error(err as Error); }
    });
    return h('div', null, table, form);
  }

  function uploadForm(): HTMLElement {
    const file = h('input', { type: 'file', accept: '.onnx,.gguf', required: true });
    const progress = h('progress', { max: 100, value: 0, 'aria-label': 'Upload progress' });
    const status = statusLine();
    const form = h('form', null, field('Model file (.onnx or .gguf)', file, `Files from ${bytes(ResumableFrom)} go up in resumable ${bytes(ChunkBytes)} chunks.`),
      h('button', { type: 'submit', class: 'primary' }, 'Upload'), progress, status);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const chosen = file.files?.[0];
      if (!chosen) return;
      const show = (sent: number, total: number): void => {
        progress.value = total > 0 ? Math.round((100 * sent) / total) : 0;
        // Once every byte is sent the server still checks the model: say so, or a big file looks stuck at 100%.
        status.ok(total > 0 && sent >= total
          ? `Sent ${chosen.name} (${bytes(total)}); the server is checking it…`
          : `Uploading ${chosen.name}: ${bytes(sent)} of ${bytes(total)} (${progress.value}%)`);
      };
      try {
        const version = chosen.size >= ResumableFrom ? await resumableUpload(base, chosen, show) : await rawUpload(base, chosen, show);
        progress.value = 100;
        await draw();
        root.querySelector('#upload-result')?.remove();
        root.prepend(h('p', { id: 'upload-result', class: 'status ok', role: 'status' }, `Uploaded ${chosen.name} as version ${version.version} (${version.format}, ${bytes(version.size_bytes)}).`));
      } catch (err) {
        // Refused: the bar goes back to empty (as the datasets page's does), not left full as if the file had gone in.
        progress.value = 0;
        status.error(err as Error);
      }
    });
    return form;
  }

  function importForm(): HTMLElement {
    const url = h('input', { type: 'url', required: true, placeholder: 'https://... or hf://owner/repo/file.gguf' });
    const sha = h('input', { type: 'text', placeholder: 'optional', pattern: '[0-9a-fA-F]{64}' });
    const progress = h('progress', { max: 100, value: 0, 'aria-label': 'Import progress' });
    const status = statusLine();
    const form = h('form', null, h('div', { class: 'row' }, field('URL', url), field('SHA-256', sha)), h('button', { type: 'submit' }, 'Import'), progress, status);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        let job = await api<Job>(`${base}/versions:import`, { json: { url: url.value.trim(), sha256: sha.value.trim() || undefined } });
        status.ok(`Job ${job.id}: ${job.status}`);
        // A read of the job that fails (the job removed, the server gone) ends the wait with its message: the form
        // must not wait for ever.
        await new Promise<void>((resolve, reject) => {
          const tick = async (): Promise<void> => {
            try {
              job = await api<Job>(`/api/v1/jobs/${seg(job.id)}`);
            } catch (err) { reject(err); return; }
            if (job.progress !== null && job.progress !== undefined) progress.value = job.progress; else progress.removeAttribute('value');
            status.ok(`Job ${job.id}: ${job.status}${job.stage ? ' · ' + job.stage : ''} · ${bytes(job.bytes_done)}${job.bytes_total ? ' of ' + bytes(job.bytes_total) : ''}`);
            if (['succeeded', 'failed', 'cancelled'].includes(job.status)) { resolve(); return; }
            timers.push(window.setTimeout(() => void tick(), 500));
          };
          void tick();
        });
        if (job.status === 'succeeded') await draw();
        else status.error(`Import ${job.status}${job.error ? `: ${job.error.code}: ${job.error.message}` : ''}`);
      } catch (err) { status.error(err as Error); }
    });
    return form;
  }

  await draw();
  return () => timers.forEach((t) => clearTimeout(t));
}

/**
 * How calls that name no version reach the model: its deployment's split (with a link for the deployment's own tenant)
 * or, for another tenant's shared model, only the versions calls may reach (the API hides the deployment's name).
 */
export function deploymentNote(model: string, d: ResolvedDeployment): HTMLElement {
  const shares = d.traffic?.length ? d.traffic.map((t) => `v${t.version} ${t.percent}%`).join(' · ') : d.versions.map((v) => `v${v}`).join(', ');
  return h('p', { class: 'deployment-note', id: 'deployment-note' },
    `Calls to ${model} that name no version follow `,
    d.name ? h('a', { href: `#/deployments/${seg(d.url ? decodeURIComponent(d.url.slice(d.url.lastIndexOf('/') + 1)) : d.name)}` }, `the deployment ${d.name}`) : 'its owner\'s deployment',
    `: ${shares}${d.stable ? ` (stable v${d.stable})` : ''}. Each answer names the version that produced it (X-Maas-Model-Version).`);
}

// A version's metadata: what its uploader set as facts; what MaaS wrote (maas.*: JSON held in strings, drawn above as
// the lineage and the evaluation report) behind a toggle, pretty-printed rather than as one escaped line.
function metadataView(metadata: Record<string, unknown> | undefined): HTMLElement | null {
  const entries = Object.entries(metadata ?? {});
  if (!entries.length) return null;
  const parsed = (value: unknown): unknown => {
    if (typeof value !== 'string' || !/^\s*[[{]/.test(value)) return value;
    try { return JSON.parse(value) as unknown; } catch { return value; }
  };
  const own = entries.filter(([k]) => !k.startsWith('maas.'));
  const written = entries.filter(([k]) => k.startsWith('maas.'));
  return h('div', { class: 'version-metadata' }, h('h3', null, 'Metadata'),
    own.length ? h('dl', { class: 'facts' }, own.map(([k, value]) => fact(k, typeof value === 'string' ? value : JSON.stringify(value)))) : null,
    written.length ? h('details', null, h('summary', null, `Written by MaaS (${written.map(([k]) => k).join(', ')})`),
      h('pre', { tabindex: 0 }, JSON.stringify(Object.fromEntries(written.map(([k, value]) => [k, parsed(value)])), null, 2))) : null);
}

function fact(term: string, value: string | Node): HTMLElement[] { return [h('dt', null, term), h('dd', null, value)]; }
function section(title: string, content: HTMLElement): HTMLElement { return h('section', { 'aria-label': title }, h('h2', null, title), content); }

/** Where a version came from: the version it was derived from, else the dataset a training job trained it on. */
function lineage(v: Version): string {
  const d = v.derived_from as { model: string; version: number; relation: string } | null | undefined;
  if (d) return `${d.relation} ${d.model} v${d.version}`;
  const dataset = (v['lineage'] as { dataset?: { name?: string; version?: number } } | null | undefined)?.dataset;
  return dataset?.name ? `trained on ${dataset.name} v${dataset.version ?? '?'}` : '–';
}

/** A trained or fine-tuned version's lineage (dataset, job, trainer, hyperparameters) as the server recorded it. */
function trainingLineage(v: Version): HTMLElement | null {
  const record = v['lineage'] as Record<string, unknown> | null | undefined;
  if (!record || typeof record !== 'object') return null;
  const dataset = record['dataset'] as { name?: string; version?: number; sha256?: string } | undefined;
  const scalar = Object.entries(record).filter(([, value]) => typeof value === 'string' || typeof value === 'number');
  return h('div', { class: 'training-lineage' }, h('h3', null, 'Lineage'),
    h('dl', { class: 'facts' },
      dataset?.name ? fact('Dataset', `${dataset.name} v${dataset.version ?? '?'}`) : null,
      scalar.map(([k, value]) => fact(k, String(value)))),
    h('details', null, h('summary', null, 'The whole lineage record'), h('pre', { tabindex: 0 }, JSON.stringify(record, null, 2))));
}

function tensorTable(specs: TensorSpec[]): HTMLElement {
  return tableBox('Tensors', h('table', { class: 'list compact' },
    h('thead', null, h('tr', null, ['Name', 'Type', 'Shape'].map((t) => h('th', { scope: 'col' }, t || h('span', { class: 'sr-only' }, 'Actions'))))),
    h('tbody', null, specs.map((t) => h('tr', null, h('td', null, t.name), h('td', null, t.datatype),
      h('td', null, `[${t.shape.map((d, i) => (d < 0 ? (t.dim_names?.[i] ?? '?') : d)).join(', ')}]`))))));
}

function configView(config: Record<string, unknown>): HTMLElement {
  const entries = Object.entries(config).filter(([, v]) => v !== null && v !== undefined);
  return entries.length === 0
    ? h('p', null, 'Server defaults (nothing set for this model).')
    : h('dl', { class: 'facts' }, entries.map(([k, v]) => fact(k, typeof v === 'object' ? JSON.stringify(v) : String(v))));
}

async function rawUpload(base: string, file: File, onProgress: (sent: number, total: number) => void): Promise<Version> {
  const res = await sendWithProgress('POST', `${base}/versions`, file, { 'Content-Type': 'application/octet-stream', 'X-Maas-Filename': file.name }, onProgress);
  return res.json as Version;
}

/** The resumable upload API: one session, chunks with Upload-Offset, resuming from the server's offset after a broken chunk. */
async function resumableUpload(base: string, file: File, onProgress: (sent: number, total: number) => void): Promise<Version> {
  const session = await api<{ id: string; offset: number }>(`${base}/uploads`, { json: { filename: file.name, size: file.size } });
  let offset = session.offset;
  let failures = 0;
  while (offset < file.size) {
    const chunk = file.slice(offset, Math.min(file.size, offset + ChunkBytes));
    try {
      const res = await sendWithProgress('PATCH', `/api/v1/uploads/${seg(session.id)}`, chunk,
        { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset) }, (sent) => onProgress(offset + sent, file.size));
      offset = Number(res.headers('Upload-Offset') ?? offset + chunk.size);
      failures = 0;
    } catch (err) {
      failures += 1;
      if (failures > 5) throw err;
      // Ask the server how far it got and go on from there.
      const state = await api<{ offset: number }>(`/api/v1/uploads/${seg(session.id)}`);
      offset = state.offset;
    }
    onProgress(offset, file.size);
  }
  return api<Version>(`/api/v1/uploads/${seg(session.id)}/complete`, { json: {} });
}

/**
 * The evaluation a training job made on its held-out test split, drawn as an evaluation job's metrics are, with the
 * report as the server keeps it (other fields, such as the ONNX check) behind a toggle.
 */
function trainingEvaluation(evaluation: unknown): HTMLElement {
  const raw = typeof evaluation === 'string' ? evaluation : JSON.stringify(evaluation, null, 2);
  return h('div', { class: 'training-evaluation' }, h('h3', null, 'Evaluation report'),
    evaluation && typeof evaluation === 'object'
      ? [h('p', { class: 'muted' }, 'Measured by the training job on the held-out test split of its dataset.'), metricsView(evaluation as EvaluationMetrics, 'test split')]
      : null,
    h('details', null, h('summary', null, 'Raw JSON'), h('pre', { tabindex: 0 }, raw)));
}

/** A version's optimisation (when it was made by one): its status, method, source and report. */
function optimisationView(v: Version): HTMLElement | null {
  const o = v['optimization'] as { status: string; method: string; job?: string; source?: { model: string; version: number } | number; report?: Record<string, unknown> } | undefined;
  if (!o) return null;
  const source = typeof o.source === 'object' && o.source ? `${o.source.model} v${o.source.version}` : String(o.source ?? '–');
  return h('div', null, h('h3', null, 'Optimisation'), h('p', null, `${o.method} of ${source}${o.job ? ` (job ${o.job})` : ''}`), resultView(v.version, o.status, o.report ?? {}));
}

/** Ready or rejected, the report's numbers and the gate's checks. */
function resultView(version: number, status: string, report: Record<string, unknown>): HTMLElement {
  const gate = report['gate'] as { passed?: boolean; checks?: { name: string; metric: string; value: number | null; threshold: number | null; passed: boolean }[] } | undefined;
  const numbers = Object.entries(report).filter(([, value]) => typeof value === 'number' || typeof value === 'string');
  return h('div', { class: 'card optimisation', 'data-status': status },
    h('p', null, `Version ${version}: `, h('span', { class: `badge ${status}` }, status),
      status === 'rejected' ? ' (kept with its numbers; not served)' : ''),
    tableBox('Report', h('table', { class: 'list compact' },
      h('caption', null, 'Report'),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Measure'), h('th', { scope: 'col' }, 'Value'))),
      h('tbody', null, numbers.map(([k, value]) => h('tr', null, h('th', { scope: 'row' }, k), h('td', null, typeof value === 'number' ? num(value, 4) : String(value))))))),
    gate?.checks?.length ? tableBox('Gate', h('table', { class: 'list compact' },
      h('caption', null, `Gate: ${gate.passed ? 'passed' : 'failed'}`),
      h('thead', null, h('tr', null, ['Check', 'Metric', 'Value', 'Threshold', 'Passed'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, gate.checks.map((c) => h('tr', null, h('th', { scope: 'row' }, c.name), h('td', null, c.metric), h('td', null, num(c.value, 4)), h('td', null, num(c.threshold, 4)),
        h('td', null, c.passed ? 'yes' : 'no')))))) : null);
}
