// A model trained from a table (version metadata "maas.tabular") is called with rows of column values, not tensors:
// a form with a field per feature, or a CSV/TSV file of rows, sent to /api/v1/models/{m}/predict; the answer is the
// label with its class probabilities as bars (classification) or the predicted number (regression).
import { api, authHeaders, metadataJson, seg, toError } from './api';
import { barChart } from './chart';
import { field, h, replace, statusLine, tableBox } from './dom';

/** How a table model is called: its task, feature columns (name and number/string type) and classes. */
export interface TabularModelInfo { task: string; features: { name: string; type: string }[]; classes?: string[] | null }

/** The "maas.tabular" metadata of a version (stored as JSON text), or null. */
export function tabularModelInfo(metadata: Record<string, unknown> | undefined): TabularModelInfo | null {
  return metadataJson<TabularModelInfo>(metadata, 'maas.tabular', (info) => Array.isArray(info.features));
}

type Prediction = number | { label: string | number; probabilities: Record<string, number> };
interface Predictions { model_version?: string; predictions: Prediction[]; ignored_columns?: string[] }

/** The form for one row (a field per feature) and for a file of rows, with the answers below it. */
export function tabularForm(name: string, info: TabularModelInfo): HTMLElement {
  const status = statusLine();
  const result = h('div', { 'aria-live': 'polite', id: 'tabular-result' });
  const inputs = info.features.map((f) => ({
    feature: f,
    control: h('input', { type: f.type === 'number' ? 'number' : 'text', step: 'any', name: f.name, placeholder: f.type === 'number' ? 'a number (empty: missing)' : 'text (empty: missing)' }),
  }));
  const run = h('button', { type: 'submit', class: 'primary' }, 'Predict');
  const rowForm = h('form', { class: 'card', id: 'tabular-row' },
    h('h2', null, `A row for ${name} (${info.task})`),
    inputs.map(({ feature, control }) => field(`${feature.name} (${feature.type})`, control)),
    run);
  rowForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const row: Record<string, number | string | null> = {};
    for (const { feature, control } of inputs) {
      const text = control.value.trim();
      row[feature.name] = text === '' ? null : feature.type === 'number' ? Number(text) : text;
    }
    void predict(run, () => api<Predictions>(`/api/v1/models/${seg(name)}/predict`, { method: 'POST', json: { instances: [row] } }));
  });

  const file = h('input', { type: 'file', accept: '.csv,.tsv,.jsonl,.ndjson,text/csv' });
  const runFile = h('button', { type: 'submit' }, 'Predict every row');
  const fileForm = h('form', { class: 'card', id: 'tabular-file' },
    h('h2', null, 'Rows from a file'),
    field('A CSV, TSV or JSON Lines file with a header row (columns that are not features, such as the label, are left out)', file),
    runFile);
  fileForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) { status.error('Choose a file of rows first.'); return; }
    const type = /\.tsv$/i.test(chosen.name) ? 'text/tab-separated-values' : /\.(jsonl|ndjson)$/i.test(chosen.name) ? 'application/jsonl' : 'text/csv';
    void predict(runFile, async () => {
      const res = await fetch(`/api/v1/models/${seg(name)}/predict`, { method: 'POST', headers: authHeaders({ 'Content-Type': type }), body: chosen });
      if (!res.ok) throw await toError(res);
      return await res.json() as Predictions;
    });
  });

  async function predict(button: HTMLButtonElement, call: () => Promise<Predictions>): Promise<void> {
    button.disabled = true;
    try {
      const answer = await call();
      showAnswers(answer);
      const left = answer.ignored_columns?.length ? ` Left out (not features): ${answer.ignored_columns.join(', ')}.` : '';
      status.ok(`Predicted ${answer.predictions.length} row(s) with ${name} version ${answer.model_version ?? '?'}.${left}`);
    } catch (err) { status.error(err as Error); } finally { button.disabled = false; }
  }

  function showAnswers(answer: Predictions): void {
    const first = answer.predictions[0];
    if (answer.predictions.length === 1 && first !== undefined && typeof first === 'object') {
      const classes = Object.keys(first.probabilities);
      replace(result,
        h('p', { class: 'status ok', id: 'tabular-label' }, `Predicted: ${String(first.label)} (${(100 * (first.probabilities[String(first.label)] ?? 0)).toFixed(1)}%)`),
        barChart('Class probabilities', classes, [{ name: 'probability', values: classes.map((c) => first.probabilities[c] ?? null) }], (v) => `${(100 * v).toFixed(1)}%`, 1));
      return;
    }
    const shown = answer.predictions.slice(0, 500);
    const counts = new Map<string, number>();
    for (const p of answer.predictions) if (typeof p === 'object') counts.set(String(p.label), (counts.get(String(p.label)) ?? 0) + 1);
    replace(result,
      counts.size ? barChart('Rows per predicted label', [...counts.keys()], [{ name: 'rows', values: [...counts.values()] }], (v) => String(v), answer.predictions.length) : null,
      tableBox('Predicted rows', h('table', { class: 'list', id: 'tabular-rows' },
        h('caption', null, `${answer.predictions.length} row(s)${answer.predictions.length > shown.length ? `, the first ${shown.length} shown` : ''}`),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Row'), h('th', { scope: 'col' }, typeof first === 'object' ? 'Label' : 'Prediction'), typeof first === 'object' ? h('th', { scope: 'col' }, 'Probability') : null)),
        h('tbody', null, shown.map((p, i) => typeof p === 'object'
          ? h('tr', null, h('td', null, String(i)), h('td', null, String(p.label)), h('td', null, `${(100 * (p.probabilities[String(p.label)] ?? 0)).toFixed(1)}%`))
          : h('tr', null, h('td', null, String(i)), h('td', null, String(p))))))));
  }

  return h('div', null, rowForm, fileForm, status, result);
}
