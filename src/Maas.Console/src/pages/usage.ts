// Usage per tenant, key and model over time (GET /api/v1/usage): a chart, a table and CSV export. The choices are
// kept in the address, so a reload or a copied link shows the same view.
import { api, authHeaders, can, toError } from '../api';
import { lineChart } from '../chart';
import { field, h, keepQuery, num, replace, statusLine, tableBox } from '../dom';
import { actor, actorText, keyNames } from '../keynames';
import type { PageContext } from '../main';

interface Row { period?: string | null; tenant?: string; key_id?: string; model?: string | null; requests: number; errors: number; total_tokens: number; prompt_tokens: number; completion_tokens: number; compute_ms: number; avg_latency_ms: number; max_latency_ms: number }
interface Usage { group_by: string; rows: Row[]; totals: Partial<Row> }

// What a row without a model or key is, in words: the API records no model for a call that names none (a list of
// models, a key created: the console's own calls too) or one that does not resolve, and no key for an anonymous call.
const without: Record<string, string> = { model: 'no model (API calls)', key_id: 'no key (anonymous)' };
const withoutHint: Record<string, string> = {
  model: `"${without['model']}": calls that named no model, such as listing models or creating a key (this console's own calls too), and calls to a model that does not exist or that the key may not see.`,
  key_id: `"${without['key_id']}": calls made without an API key (a server that lets anonymous callers in).`,
};

export async function usagePage({ me, root, query }: PageContext): Promise<void> {
  const tenant = h('input', { type: 'text', placeholder: can(me, 'admin') ? 'all tenants' : me.tenant, disabled: !can(me, 'admin'), value: can(me, 'admin') ? query.get('tenant') ?? '' : '' });
  const key = h('input', { type: 'text', placeholder: 'any key id', value: query.get('key') ?? '' });
  const model = h('input', { type: 'text', placeholder: 'any model', value: query.get('model') ?? '' });
  const hours = h('select', null, [['1', 'last hour'], ['24', 'last 24 hours'], ['168', 'last 7 days'], ['720', 'last 30 days']].map(([v, t]) => h('option', { value: v }, t)));
  hours.value = '24';
  const groupBy = h('select', null, ['hour', 'day'].map((g) => h('option', { value: g }, g)));
  const split = h('select', null, [['model', 'model'], ['tenant', 'tenant'], ['key_id', 'key']].map(([v, t]) => h('option', { value: v }, t)));
  const measure = h('select', null, [['requests', 'requests'], ['total_tokens', 'tokens'], ['compute_ms', 'compute ms'], ['errors', 'errors']].map(([v, t]) => h('option', { value: v }, t)));
  const status = statusLine();
  const out = h('div');
  // A choice from the address only when the list offers it (an old or edited link falls back to the default).
  const choices: [HTMLSelectElement, string][] = [[hours, 'hours'], [groupBy, 'group_by'], [split, 'by'], [measure, 'measure']];
  const defaults = new Map(choices.map(([select]) => [select, select.value]));
  for (const [select, name] of choices) {
    const wanted = query.get(name);
    if (wanted && [...select.options].some((o) => o.value === wanted)) select.value = wanted;
  }

  function params(since = rangeStart()): URLSearchParams {
    const p = new URLSearchParams();
    if (tenant.value.trim()) p.set('tenant', tenant.value.trim());
    if (key.value.trim()) p.set('key', key.value.trim());
    if (model.value.trim()) p.set('model', model.value.trim());
    p.set('from', new Date(since).toISOString());
    p.set('group_by', groupBy.value);
    p.set('limit', '10000');
    return p;
  }

  const rangeStart = (): number => Date.now() - Number(hours.value) * 3600_000;

  // Each change starts a load; only the newest may draw, or a slow earlier answer would replace a later one's rows.
  let latest = 0;
  async function load(): Promise<void> {
    const mine = ++latest;
    const kept = new URLSearchParams();
    for (const [input, name] of [[tenant, 'tenant'], [key, 'key'], [model, 'model']] as const) if (input.value.trim()) kept.set(name, input.value.trim());
    for (const [select, name] of choices) if (select.value !== defaults.get(select)) kept.set(name, select.value);
    keepQuery('usage', kept);
    try {
      const since = rangeStart();
      const usage = await api<Usage>(`/api/v1/usage?${params(since)}`);
      if (mine !== latest) return;
      const times = periodsOf(since, Date.now(), groupBy.value === 'day' ? 86_400_000 : 3_600_000);
      const field_ = measure.value as keyof Row;
      const by = split.value as keyof Row;
      const names = await keyNames(me);
      if (mine !== latest) return;
      // A row without a model or key (a management call, an anonymous one) is grouped under the empty string, and
      // named in words below; every other group is the model, the tenant, or the key by its name.
      const groupOf = (r: Row): string => String(r[by] ?? '');
      const groups = [...new Set(usage.rows.map(groupOf))].sort((a, b) => (a === '' ? 1 : b === '' ? -1 : a.localeCompare(b)));
      const labels = groups.map((g) => (g === '' ? without[by as string] ?? 'none' : by === 'key_id' ? actorText(names, g) : g));
      // Two keys of one name are told apart by their ids.
      const named = labels.map((l, i) => (labels.indexOf(l) !== labels.lastIndexOf(l) && groups[i] ? `${l} (${groups[i]})` : l));
      // Every period of the range is a point, 0 where nothing was used: a line between two busy hours does not pass
      // over the idle ones between them, and the axis spans the range the user chose.
      const series = groups.map((g, i) => {
        const sums = new Map<number, number>();
        for (const r of usage.rows) {
          if (groupOf(r) !== g || !r.period) continue;
          const t = new Date(r.period).getTime();
          sums.set(t, (sums.get(t) ?? 0) + Number(r[field_] ?? 0));
        }
        return { name: named[i]!, values: times.map((t) => sums.get(t) ?? 0) };
      });
      const fmt = (t: number): string => (groupBy.value === 'day' ? new Date(t).toLocaleDateString() : new Date(t).toLocaleString());
      replace(out,
        // In the charts grid, as on the metrics page: the chart keeps a card's width and its text a readable size.
        h('div', { class: 'charts' },
          lineChart(`${measure.selectedOptions[0]?.textContent ?? ''} per ${groupBy.value}, by ${split.selectedOptions[0]?.textContent ?? ''}`, times, series, undefined, fmt, 'total')),
        groups.includes('') && withoutHint[by as string] ? h('p', { class: 'hint', id: 'usage-without' }, withoutHint[by as string]) : null,
        h('p', null, `Totals: ${usage.totals.requests ?? 0} requests, ${usage.totals.errors ?? 0} errors, ${usage.totals.total_tokens ?? 0} tokens, ${num(usage.totals.compute_ms ?? 0, 1)} compute ms.`),
        tableBox('Usage rows', h('table', { class: 'list' },
          h('caption', { class: 'sr-only' }, 'Usage rows'),
          h('thead', null, h('tr', null, ['Period', 'Tenant', 'Key', 'Model', 'Requests', 'Errors', 'Tokens', 'Compute ms', 'Avg latency ms', 'Max latency ms'].map((t) => h('th', { scope: 'col' }, t || h('span', { class: 'sr-only' }, 'Actions'))))),
          h('tbody', null, usage.rows.length === 0 ? h('tr', null, h('td', { colspan: 10 }, 'No usage in this range.')) : usage.rows.map((r) => h('tr', null,
            h('td', null, r.period ? fmt(new Date(r.period).getTime()) : '–'), h('td', null, r.tenant ?? '–'), h('td', null, r.key_id ? actor(names, r.key_id) : without['key_id']), h('td', null, r.model ?? without['model']),
            h('td', null, r.requests), h('td', null, r.errors), h('td', null, r.total_tokens), h('td', null, num(r.compute_ms, 1)), h('td', null, num(r.avg_latency_ms, 2)), h('td', null, num(r.max_latency_ms, 2))))))));
      status.ok(`${usage.rows.length} row${usage.rows.length === 1 ? '' : 's'}.`);
    } catch (e) { if (mine === latest) status.error(e as Error); }
  }

  async function csv(): Promise<void> {
    try {
      const res = await fetch(`/api/v1/usage?${params()}`, { headers: authHeaders({ Accept: 'text/csv' }) });
      if (!res.ok) throw await toError(res);
      const url = URL.createObjectURL(await res.blob());
      const a = h('a', { href: url, download: `maas-usage-${new Date().toISOString().slice(0, 16)}.csv` });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) { status.error(e as Error); }
  }

  const form = h('form', { class: 'filters', onsubmit: (e: Event) => { e.preventDefault(); void load(); } },
    field('Tenant', tenant), field('Key id', key), field('Model', model), field('Range', hours), field('Group by', groupBy), field('Chart by', split), field('Measure', measure),
    h('div', { class: 'field actions' }, h('button', { type: 'submit', class: 'primary' }, 'Show'), h('button', { type: 'button', onclick: () => void csv() }, 'Export CSV')));
  for (const sel of [hours, groupBy, split, measure]) sel.addEventListener('change', () => void load());
  replace(root, h('h1', null, 'Usage'), form, status, out);
  await load();
}

/** The start of every usage period (UTC hours or days, as the server groups them) from the one holding `from` to the one holding `to`. */
export function periodsOf(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let t = Math.floor(from / step) * step; t <= to; t += step) out.push(t);
  return out;
}
