// Models: the registry's list with search, filters and pages (kept in the address, so a reload or a link shows the
// same list), and a form to register a new model.
import { api, can, seg } from '../api';
import { field, h, keepQuery, nameInput, replace, statusLine, tableBox, when } from '../dom';
import type { PageContext } from '../main';
import type { Model } from '../types';

/** Models per page: the API's default page. */
const modelsPageSize = 100;

export async function modelsPage({ me, root, query }: PageContext): Promise<void> {
  const q = h('input', { type: 'search', value: query.get('q') ?? '', placeholder: 'part of the name' });
  const task = h('input', { type: 'text', value: query.get('task') ?? '', placeholder: 'e.g. detection' });
  const tag = h('input', { type: 'text', value: query.get('tag') ?? '' });
  const format = h('select', null, h('option', { value: '' }, 'any'), h('option', { value: 'onnx' }, 'ONNX'), h('option', { value: 'gguf' }, 'GGUF'));
  format.value = query.get('format') ?? '';
  const status = statusLine();
  const body = h('tbody');
  const count = h('p', { class: 'muted', id: 'models-count' });
  const previous = h('button', { type: 'button', disabled: true }, 'Previous page');
  const next = h('button', { type: 'button', disabled: true }, 'Next page');
  let offset = Math.max(0, Math.floor(Number(query.get('offset')) || 0));

  // Typing, paging and the format each start a load; only the newest may draw (a slow earlier answer is dropped).
  let latest = 0;
  async function load(): Promise<void> {
    const mine = ++latest;
    const filters = new URLSearchParams();
    if (q.value.trim()) filters.set('q', q.value.trim());
    if (task.value.trim()) filters.set('task', task.value.trim());
    if (tag.value.trim()) filters.set('tag', tag.value.trim());
    if (format.value) filters.set('format', format.value);
    const params = new URLSearchParams(filters);
    params.set('limit', String(modelsPageSize));
    params.set('offset', String(offset));
    try {
      const list = await api<{ models: Model[]; total: number }>(`/api/v1/models?${params}`);
      if (mine !== latest) return;
      // A page past the end (models deleted meanwhile, an old link) goes to the last page there is.
      if (list.models.length === 0 && offset > 0 && list.total > 0) {
        offset = Math.floor((list.total - 1) / modelsPageSize) * modelsPageSize;
        return await load();
      }
      if (offset > 0) filters.set('offset', String(offset));
      keepQuery('models', filters);
      const shown = list.models.length === 0 ? '' : list.models.length < list.total ? `, ${offset + 1}–${offset + list.models.length} shown` : '';
      count.textContent = `${list.total} model${list.total === 1 ? '' : 's'}${shown}`;
      previous.disabled = offset === 0;
      next.disabled = offset + list.models.length >= list.total;
      replace(body, list.models.length === 0
        ? h('tr', null, h('td', { colspan: 7 }, 'No model matches.'))
        : list.models.map((m) => h('tr', null,
          // Another tenant's (shared) model is reached as owner/name; the caller's own by its short name.
          h('td', null, h('a', { href: `#/models/${seg(m.owner && m.owner !== me.tenant && m.qualified_name ? m.qualified_name : m.name)}` }, m.name)),
          h('td', null, m.task ?? '–'),
          h('td', null, (m.tags ?? []).join(', ') || '–'),
          h('td', null, m.latest_version ?? '–'),
          h('td', null, m.owner ?? '–'),
          h('td', null, m.visibility ?? '–'),
          h('td', null, when(m.updated_at)))));
      status.clear();
    } catch (e) { if (mine === latest) status.error(e as Error); }
  }

  let timer = 0;
  // Other filters start again from the first page.
  const later = (): void => { clearTimeout(timer); timer = window.setTimeout(() => { offset = 0; void load(); }, 250); };
  for (const input of [q, task, tag]) input.addEventListener('input', later);
  format.addEventListener('change', () => { offset = 0; void load(); });
  previous.addEventListener('click', () => { offset = Math.max(0, offset - modelsPageSize); void load(); });
  next.addEventListener('click', () => { offset += modelsPageSize; void load(); });

  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter models', onsubmit: (e: Event) => { e.preventDefault(); offset = 0; void load(); } },
    field('Search', q), field('Task', task), field('Tag', tag), field('Format', format));

  const create = can(me, 'models:write') ? newModelForm() : null;
  replace(root,
    h('h1', null, 'Models'),
    filters,
    count,
    tableBox('Models', h('table', { class: 'list' },
      h('caption', { class: 'sr-only' }, 'Models in the registry'),
      h('thead', null, h('tr', null, ['Name', 'Task', 'Tags', 'Latest version', 'Owner', 'Visibility', 'Updated'].map((t) => h('th', { scope: 'col' }, t || h('span', { class: 'sr-only' }, 'Actions'))))),
      body)),
    h('nav', { class: 'pager', 'aria-label': 'Pages of models' }, previous, next),
    status,
    create);
  await load();
}

function newModelForm(): HTMLElement {
  const name = nameInput({ placeholder: 'faces' });
  const task = h('input', { type: 'text', placeholder: 'detection, text-generation, ...' });
  const description = h('input', { type: 'text' });
  const status = statusLine();
  const form = h('form', { class: 'card', 'aria-labelledby': 'new-model' },
    h('h2', { id: 'new-model' }, 'Register a model'),
    h('div', { class: 'row' }, field('Name', name), field('Task', task), field('Description', description)),
    h('button', { type: 'submit', class: 'primary' }, 'Create model'),
    status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const model = await api<Model>('/api/v1/models', { json: { name: name.value.trim(), task: task.value.trim() || undefined, description: description.value } });
      location.hash = `#/models/${seg(model.name)}`;
    } catch (err) { status.error(err as Error); }
  });
  return form;
}
