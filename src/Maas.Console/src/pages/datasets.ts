// Datasets: the list, an upload with a progress bar that shows the schema and column statistics it found, and a
// dataset's page with its versions, schema, statistics and first rows.
import { api, ApiError, can, seg, sendWithProgress } from '../api';
import { bytes, confirmButton, field, h, nameInput, num, replace, statusLine, tableBox, when } from '../dom';
import type { PageContext } from '../main';
import type { Dataset, DatasetVersion } from '../types';

export async function datasetsPage({ me, root }: PageContext): Promise<void> {
  const list = h('div');
  const status = statusLine();

  async function load(): Promise<void> {
    try {
      const { datasets } = await api<{ datasets: Dataset[] }>('/api/v1/datasets');
      replace(list, datasets.length === 0 ? h('p', null, 'No datasets yet.') : tableBox('Datasets', h('table', { class: 'list' },
        h('caption', { class: 'sr-only' }, 'Datasets'),
        h('thead', null, h('tr', null, ['Name', 'Latest version', 'Owner', 'Visibility', 'Description', 'Created'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, datasets.map((d) => h('tr', { 'data-dataset': d.name },
          h('td', null, h('a', { href: `#/datasets/${seg(d.name)}` }, d.name)),
          h('td', null, d.latest_version ? `v${d.latest_version}` : '–'),
          h('td', null, d.owner ?? '–'), h('td', null, d.visibility ?? '–'), h('td', null, d.description || '–'), h('td', null, when(d.created_at))))))));
    } catch (e) { status.error(e as Error); }
  }

  replace(root, h('h1', null, 'Datasets'), status, list, can(me, 'datasets:write') ? h('section', { 'aria-label': 'Upload a dataset' }, h('h2', null, 'Upload a dataset'), uploadForm(load)) : null);
  await load();
}

function uploadForm(reload: () => Promise<void>): HTMLElement {
  const name = nameInput({ placeholder: 'my-data' });
  const visibility = h('select', null, h('option', { value: 'private' }, 'private'), h('option', { value: 'shared' }, 'shared'));
  const schema = h('input', { type: 'text', placeholder: 'optional: zip:string,flag:boolean' });
  const file = h('input', { type: 'file', required: true, accept: '.csv,.tsv,.tab,.jsonl,.ndjson,.parquet,.gz,.zip,.tar,.tgz' });
  const progress = h('progress', { max: 100, value: 0, 'aria-label': 'Dataset upload progress' });
  const status = statusLine();
  const result = h('div', { id: 'dataset-upload-result', 'aria-live': 'polite' });
  const form = h('form', null,
    h('div', { class: 'row' }, field('Dataset name', name, 'A new version when the dataset exists.'), field('Visibility', visibility), field('Column types', schema)),
    field('File (CSV, TSV, JSON Lines, Parquet, or a zip/tar of IDX files or of pictures in one folder per class)', file),
    h('button', { type: 'submit', class: 'primary' }, 'Upload dataset'), progress, status, result);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return;
    const dataset = name.value.trim();
    // A dataset this upload created is taken away again when its file is refused (400 invalid_dataset naming the line
    // and the limit): a failed upload leaves no empty dataset behind.
    let created = false;
    try {
      try {
        await api('/api/v1/datasets', { json: { name: dataset, visibility: visibility.value } });
        created = true;
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 'dataset_exists')) throw err;
      }
      const query = schema.value.trim() ? `?schema=${encodeURIComponent(schema.value.trim())}` : '';
      const res = await sendWithProgress('POST', `/api/v1/datasets/${seg(dataset)}/versions${query}`, chosen,
        { 'Content-Type': 'application/octet-stream', 'X-Maas-Filename': chosen.name },
        (sent, total) => {
          progress.value = total > 0 ? Math.round((100 * sent) / total) : 0;
          // Once every byte is sent the server still parses the file: say so, or a big file looks stuck at 100%.
          status.ok(total > 0 && sent >= total
            ? `Sent ${chosen.name} (${bytes(total)}); the server is reading it (schema and statistics)…`
            : `Uploading ${chosen.name}: ${bytes(sent)} of ${bytes(total)} (${progress.value}%)`);
        });
      const version = res.json as DatasetVersion;
      progress.value = 100;
      status.ok(`Uploaded ${chosen.name} as ${version.dataset} version ${version.version}: ${version.rows} rows, ${version.schema.length} columns (${version.format}).`);
      replace(result, h('h3', null, `Schema of ${version.dataset} v${version.version}`), schemaTable(version),
        h('p', null, h('a', { href: `#/datasets/${seg(version.dataset)}?v=${version.version}` }, 'Open the dataset'), ' · ',
          h('a', { href: `#/training?dataset=${seg(version.dataset)}` }, 'Train a model from it')));
      await reload();
    } catch (err) {
      progress.value = 0;
      status.error(`${chosen.name}: ${(err as Error).message}`);
      if (created) await api(`/api/v1/datasets/${seg(dataset)}`, { method: 'DELETE' }).catch(() => undefined);
    }
  });
  return form;
}

/** The schema with each column's statistics: type (and shape), count, missing, distinct, range, mean, classes. */
export function schemaTable(version: DatasetVersion): HTMLElement {
  const stats = new Map((version.statistics ?? []).map((s) => [s.name, s]));
  return tableBox('Columns', h('table', { class: 'list schema' },
    h('caption', { class: 'sr-only' }, `Columns of ${version.dataset} version ${version.version}`),
    h('thead', null, h('tr', null, ['Column', 'Type', 'Count', 'Missing', 'Distinct', 'Min', 'Max', 'Mean', 'Classes'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, version.schema.map((c) => {
      const s = stats.get(c.name);
      // Rows per value say something for labels and categories, not for a measured number that is unique on each row.
      const classes = s?.class_balance && (c.type !== 'number' || Object.keys(s.class_balance).length <= 20) ? Object.entries(s.class_balance) : [];
      return h('tr', { 'data-column': c.name },
        h('th', { scope: 'row' }, c.name),
        h('td', null, c.shape?.length ? `${c.type} [${c.shape.join('×')}]` : c.type),
        h('td', null, num(s?.count)), h('td', null, num(s?.missing)),
        h('td', null, s?.distinct === undefined || s?.distinct === null ? '–' : `${s.distinct}${s.distinct_capped ? '+' : ''}`),
        h('td', null, num(s?.min, 3)), h('td', null, num(s?.max, 3)), h('td', null, num(s?.mean, 3)),
        h('td', null, classes.length ? classes.slice(0, 8).map(([k, v]) => `${k}: ${v}`).join(', ') + (classes.length > 8 ? ` (+${classes.length - 8})` : '') : '–'));
    }))));
}

export async function datasetPage({ me, root, params, query }: PageContext): Promise<void> {
  const name = params[0]!;
  const base = `/api/v1/datasets/${seg(name)}`;
  const writable = can(me, 'datasets:write');

  // Drawn again after a delete: the address may already be the one the delete leads to (no hashchange to redraw).
  async function draw(asked: number | null): Promise<void> {
    const dataset = await api<Dataset>(base);
    const versions = dataset.versions ?? [];
    const chosen = asked !== null && versions.some((v) => v.version === asked) ? asked : dataset.latest_version ?? 0;
    const version = chosen ? await api<DatasetVersion>(`${base}/versions/${chosen}`) : null;
    const preview = chosen ? await api<{ rows_total: number; columns: { name: string }[]; rows: Record<string, unknown>[] }>(`${base}/versions/${chosen}/preview?limit=20`) : null;
    const status = statusLine();
    const inUse = h('div', { class: 'in-use' });
    replace(root,
      h('p', null, h('a', { href: '#/datasets' }, '← Datasets')),
      h('h1', null, dataset.name),
      h('p', { class: 'muted' }, dataset.description || 'No description.'),
      h('dl', { class: 'facts' },
        h('dt', null, 'Owner'), h('dd', null, dataset.owner ?? '–'), h('dt', null, 'Visibility'), h('dd', null, dataset.visibility ?? '–'),
        h('dt', null, 'Latest version'), h('dd', null, String(dataset.latest_version ?? '–')), h('dt', null, 'Created'), h('dd', null, when(dataset.created_at))),
      status, inUse,
      h('section', { 'aria-label': 'Versions' }, h('h2', null, 'Versions'), versions.length === 0 ? h('p', null, 'No version yet.') : tableBox('Versions', h('table', { class: 'list' },
        h('caption', { class: 'sr-only' }, 'Versions'),
        h('thead', null, h('tr', null, ['Version', 'Format', 'Rows', 'Size', 'File', 'Created', ''].map((t) => h('th', { scope: 'col' }, t || h('span', { class: 'sr-only' }, 'Actions'))))),
        h('tbody', null, versions.map((v) => h('tr', { 'data-version': v.version },
          h('td', null, h('a', { href: `#/datasets/${seg(name)}?v=${v.version}`, 'aria-current': v.version === chosen ? 'true' : false }, `v${v.version}`)),
          h('td', null, v.format), h('td', null, String(v.rows)), h('td', null, bytes(v.size_bytes)), h('td', null, v.file_name), h('td', null, when(v.created_at)),
          h('td', null, writable ? confirmButton('Delete', `Really delete v${v.version}?`, () => remove(`${base}/versions/${v.version}`, `v${v.version}`, status, inUse)) : null))))))),
      version ? h('section', { 'aria-label': 'Schema and statistics' }, h('h2', null, `Schema and statistics of v${version.version}`),
        h('p', null, `${version.rows} rows · ${version.format} · ${bytes(version.size_bytes)} · SHA-256 ${version.sha256.slice(0, 16)}…`), schemaTable(version),
        can(me, 'training:write') ? h('p', null, h('a', { href: `#/training?dataset=${seg(name)}:${version.version}` }, 'Train a model from this version')) : null) : null,
      preview ? h('section', { 'aria-label': 'Preview' }, h('h2', null, `First rows (${preview.rows.length} of ${preview.rows_total})`),
        tableBox('First rows', h('table', { class: 'list compact', id: 'dataset-preview' },
          h('caption', { class: 'sr-only' }, 'First rows'),
          h('thead', null, h('tr', null, preview.columns.map((c) => h('th', { scope: 'col' }, c.name)))),
          h('tbody', null, preview.rows.map((row) => h('tr', null, preview.columns.map((c) => h('td', null, cell(row[c.name]))))))))) : null,
      writable ? h('section', { 'aria-label': 'Delete the dataset' }, h('h2', null, 'Delete the dataset'),
        confirmButton('Delete dataset', `Really delete ${name}?`, () => remove(base, name, status, inUse, true))) : null);
  }

  /**
   * Deletes the dataset or one version. A refusal (409 dataset_in_use) comes for one of two reasons, each with its own
   * answer: unfinished jobs read it (`jobs`, `unlisted_jobs`): the page names them with links to the jobs page and
   * offers no "Delete anyway", since force never deletes data a job reads; or a model version's lineage names it
   * (`used_by`, `unlisted_model_versions`): the page names those it may see, counts the others, and offers to delete it
   * anyway (?force=true).
   */
  async function remove(url: string, what: string, status: ReturnType<typeof statusLine>, inUse: HTMLElement, whole = false, force = false): Promise<void> {
    inUse.replaceChildren();
    try {
      await api(`${url}${force ? '?force=true' : ''}`, { method: 'DELETE' });
    } catch (e) {
      const refusal = e instanceof ApiError && e.code === 'dataset_in_use' ? ((e.body as { error?: InUse })?.error ?? {}) : null;
      if (!refusal) { status.error(e as Error); status.scrollIntoView({ block: 'nearest' }); return; }
      const subject = whole ? `The dataset ${what}` : `Version ${what}`;
      if (refusal.jobs !== undefined || refusal.unlisted_jobs !== undefined) {
        const jobs = refusal.jobs ?? [];
        const others = refusal.unlisted_jobs ?? 0;
        const count = jobs.length + others;
        const them = count === 1 ? 'it' : 'them';
        const advice = jobs.length === 0 ? `Wait for ${them} to end` : others === 0 ? `Cancel ${them} or let ${them} end` : 'Cancel yours or let the others end';
        status.error(`${subject} is not deleted: ${count === 1 ? 'an unfinished job reads' : `${count} unfinished jobs read`} it. `
          + `${advice}, then delete it again (deleting anyway would not help: no data a job reads is deleted).`);
        replace(inUse, jobs.length ? h('ul', { class: 'in-use-jobs' }, jobs.map((j) => h('li', { 'data-job': j.id },
          h('a', { href: `#/jobs?job=${encodeURIComponent(j.id)}` }, j.id), ` (${j.kind}, ${j.status}${j.dataset_version ? `, reads v${j.dataset_version}` : ''})`))) : null,
        others ? h('p', { class: 'muted', 'data-unlisted-jobs': others }, `${others === 1 ? 'One other unfinished job' : `${others} other unfinished jobs`} this key may not see ${others === 1 ? 'reads' : 'read'} it.`) : null);
        status.scrollIntoView({ block: 'nearest' });
        return;
      }
      const named = [...new Set((refusal.used_by ?? []).map((u) => `${u.model} v${u.version}`))];
      const others = refusal.unlisted_model_versions ?? 0;
      const listed = [...named.slice(0, 5), ...(named.length > 5 ? [`${named.length - 5} more`] : [])];
      const hidden = others ? [`${others} model version${others === 1 ? '' : 's'} this key may not see`] : [];
      const parts = [...listed, ...hidden];
      const lineage = parts.length === 0 ? 'a model version' : parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
      status.error(`${subject} is not deleted: the lineage of ${lineage} names it.`);
      replace(inUse, confirmButton('Delete anyway', 'Really delete anyway?', () => remove(url, what, status, inUse, whole, true), 'danger', `force-delete:${url}`),
        h('span', { class: 'muted' }, ' Those model versions stay; their lineage then names a dataset that is gone.'));
      // The question is under the heading, far above the dataset's own Delete button: it is brought into view.
      status.scrollIntoView({ block: 'nearest' });
      return;
    }
    if (whole) { location.hash = '#/datasets'; return; }
    const target = `#/datasets/${seg(name)}`;
    if (location.hash === target) await draw(null); else location.hash = target;
  }

  const asked = query.get('v');
  await draw(asked ? Number(asked) : null);
}

/** The body of a 409 dataset_in_use: jobs that read the dataset, or model versions whose lineage names it. */
interface InUse {
  jobs?: { id: string; kind: string; status: string; dataset_version?: number | null }[];
  unlisted_jobs?: number;
  used_by?: { model: string; version: number; dataset_version?: number }[];
  unlisted_model_versions?: number;
}

// Pictures come as nested arrays of pixels: their size says more than their values.
function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return Array.isArray(value[0]) ? `picture ${value.length}×${(value[0] as unknown[]).length}` : `[${value.length}]`;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}
