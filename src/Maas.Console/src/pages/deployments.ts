// Deployments: the traffic split of each model over its versions, shadows, a rollout's state, this server's metrics
// per version, the history of changes, and the actions (create; change the split, shadows and stickiness, or start a
// rollout; promote, pause, resume, abort, delete).
import { api, ApiError, can, seg } from '../api';
import { confirmButton, field, h, num, replace, statusLine, tableBox, when } from '../dom';
import { actor, keyNames, type KeyNames } from '../keynames';
import type { PageContext } from '../main';

interface Share { version: number; percent: number }
interface Deployment {
  name: string; tenant: string; model: string; traffic: Share[]; shadow: { version: number }[]; sticky?: Record<string, unknown> | null;
  plan?: Record<string, unknown> | null; state: string; stable: number; canary?: number | null; step?: number | null; reason?: string | null;
  revision: number; created_at?: string; updated_at?: string; url: string;
  metrics: { version: number; requests: number; errors: number; error_rate: number; p99_ms: number; comparisons: number; exact_match_rate: number; max_abs_error: number; max_rel_error: number; dropped: number }[];
}
interface HistoryRow { at: string; actor: string; action: string; reason?: string | null; state: string; traffic: Share[]; revision: number }

/** How a deployment is named in its URL (another tenant's as tenant%2Fname, for admins). */
const routeName = (d: Deployment): string => decodeURIComponent(d.url.slice(d.url.lastIndexOf('/') + 1));
// A rate from 0 to 1 as a percent: 0.5%, 100%.
const percent = (rate: number): string => `${Number((rate * 100).toFixed(rate > 0 && rate < 0.1 ? 2 : 1))}%`;
const split = (traffic: Share[]): string => traffic.map((t) => `v${t.version} ${t.percent}%`).join(' · ');
const splitPattern = '\\s*\\d+\\s*:\\s*\\d+\\s*(,\\s*\\d+\\s*:\\s*\\d+\\s*)*';
/** "1:90, 2:10" as shares (the form's pattern has checked the shape; the server checks the sum and the versions). */
const parseSplit = (text: string): Share[] =>
  text.split(',').map((part) => part.split(':').map((x) => Number(x.trim()))).map(([version, percent]) => ({ version: version!, percent: percent! }));

/** The split as a bar of shares (widths by class, since the Content-Security-Policy allows no inline styles). */
function splitBar(traffic: Share[]): HTMLElement {
  return h('div', { class: 'split', role: 'img', 'aria-label': `Traffic: ${split(traffic)}` },
    traffic.map((t, i) => h('span', { class: `share c${i % 8} w${Math.round(t.percent / 5) * 5}` }, t.percent >= 10 ? `v${t.version}` : '')));
}

export async function deploymentsPage({ me, root }: PageContext): Promise<void> {
  const status = statusLine();
  const { deployments } = await api<{ deployments: Deployment[] }>('/api/v1/deployments');
  const model = h('input', { type: 'text', required: true, placeholder: 'model' });
  const traffic = h('input', { type: 'text', required: true, placeholder: '1:90, 2:10', pattern: splitPattern });
  const shadow = h('input', { type: 'text', placeholder: 'optional: 3' });
  const sticky = h('input', { type: 'text', placeholder: 'optional: X-User-Id' });
  const plan = h('textarea', { rows: 2, placeholder: 'optional: {"steps": [10, 50, 100], "dwell_seconds": 300}' });
  const form = h('form', { class: 'card' },
    h('div', { class: 'row' }, field('Model', model), field('Traffic (version:percent, ...)', traffic), field('Shadow versions', shadow), field('Sticky by header', sticky)),
    field('Rollout plan (JSON)', plan, 'The canary\'s share step by step, each held for its dwell time while its checks pass; a failed check rolls it back (docs/api.md).'),
    h('button', { type: 'submit', class: 'primary' }, 'Create deployment'), status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const shares = parseSplit(traffic.value);
      const shadows = shadow.value.split(',').map((x) => x.trim()).filter(Boolean).map((x) => ({ version: Number(x) }));
      let rollout: unknown = undefined;
      if (plan.value.trim()) {
        try { rollout = JSON.parse(plan.value); } catch (err) { throw new Error(`The rollout plan is not valid JSON: ${(err as Error).message}`); }
      }
      const created = await api<Deployment>('/api/v1/deployments', {
        json: { model: model.value.trim(), traffic: shares, shadow: shadows.length ? shadows : undefined, sticky: sticky.value.trim() ? { header: sticky.value.trim() } : undefined, plan: rollout },
      });
      location.hash = `#/deployments/${seg(routeName(created))}`;
    } catch (err) { status.error(err as Error); }
  });
  replace(root, h('h1', null, 'Deployments'),
    deployments.length === 0 ? h('p', null, 'No deployments: calls take each model\'s default version.') : tableBox('Deployments', h('table', { class: 'list' },
      h('caption', { class: 'sr-only' }, 'Deployments'),
      h('thead', null, h('tr', null, ['Name', 'Model', 'State', 'Traffic', 'Shadows', 'Rollout step', 'Updated'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, deployments.map((d) => h('tr', { 'data-deployment': d.name, 'data-state': d.state },
        h('td', null, h('a', { href: `#/deployments/${seg(routeName(d))}` }, d.name)), h('td', null, d.model),
        h('td', null, h('span', { class: `badge ${d.state}` }, d.state)), h('td', null, splitBar(d.traffic), split(d.traffic)),
        h('td', null, d.shadow.map((s) => `v${s.version}`).join(', ') || '–'), h('td', null, d.step === null || d.step === undefined ? '–' : String(d.step)),
        h('td', null, when(d.updated_at))))))),
    can(me, 'models:write') ? h('section', { 'aria-label': 'Create a deployment' }, h('h2', null, 'Create a deployment'), form) : null);
}

export async function deploymentPage({ me, root, params }: PageContext): Promise<() => void> {
  const name = params[0]!;
  const base = `/api/v1/deployments/${seg(name)}`;
  const status = statusLine();
  // What a redraw replaces: the facts and actions above the split form, the metrics and history below it.
  const view = h('div');
  const details = h('div');
  let timer = 0;
  let stopped = false;
  const writable = can(me, 'models:write');

  // A resumed rollout moves again: the page follows it again (loop), as it stops following a paused one.
  async function act(action: string): Promise<void> {
    try { await api(`${base}:${action}`, { method: 'POST', json: {} }); await loop(); status.ok(`Done: ${action}.`); } catch (e) { status.error(e as Error); }
  }

  // The change forms are built once and never redrawn (a rollout's page redraws every 3 s): what is typed there, the
  // caret and the focus stay. Until something is typed a form follows the deployment; from then on it keeps the
  // revision the typing started from and sends it (If-Match), so a change made meanwhile is refused, not overwritten.
  // After such a refusal the page shows the current state and the typed change may be sent again against it.
  function changeForm(id: string, title: string, button: string, done: string, controls: HTMLElement[],
    fill: (d: Deployment) => void, body: () => Record<string, unknown>, note?: HTMLElement): { section: HTMLElement; follow(d: Deployment): void } {
    let revision = 0;
    let typed = false;
    const form = h('form', { class: 'card', id }, h('div', { class: 'row' }, controls), h('button', { type: 'submit', class: 'primary' }, button));
    const setRevision = (r: number): void => { revision = r; form.dataset.revision = String(r); };
    form.addEventListener('input', () => { typed = true; });
    form.addEventListener('change', () => { typed = true; });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        await api(base, { method: 'PATCH', json: body(), headers: { 'If-Match': `"${revision}"` } });
        typed = false;
        await draw();
        status.ok(done);
      } catch (err) {
        status.error(err as Error);
        if (err instanceof ApiError && err.code === 'deployment_changed') {
          try { setRevision((await draw()).revision); } catch { /* the refusal stays on screen */ }
        }
      }
    });
    return {
      section: h('section', { 'aria-label': title }, h('h2', null, title), note ?? null, form),
      follow(d: Deployment): void {
        if (typed) return;
        fill(d);
        setRevision(d.revision);
      },
    };
  }

  const shares = (d: Deployment): string => d.traffic.map((t) => `${t.version}:${t.percent}`).join(', ');

  function splitForm(): { section: HTMLElement; follow(d: Deployment): void } {
    const input = h('input', { type: 'text', required: true, pattern: splitPattern });
    const note = h('p', { hidden: true }, 'A new split ends the running rollout.');
    const form = changeForm('deployment-split', 'Change the split', 'Change the split', 'Split changed.',
      [field('New traffic split (version:percent, ...)', input)], (d) => { input.value = shares(d); }, () => ({ traffic: parseSplit(input.value) }), note);
    return { section: form.section, follow(d) { note.hidden = !(d.plan && d.state === 'active'); form.follow(d); } };
  }

  // Shadows and stickiness change without touching the split: a running rollout keeps its step.
  function routingForm(): { section: HTMLElement; follow(d: Deployment): void } {
    const shadows = h('input', { type: 'text', placeholder: 'none, or e.g. 3, 4', pattern: '\\s*(\\d+\\s*(,\\s*\\d+\\s*)*)?' });
    const header = h('input', { type: 'text', placeholder: 'none, or e.g. X-User-Id' });
    const byKey = h('input', { type: 'checkbox' });
    return changeForm('deployment-routing', 'Shadows and stickiness', 'Change shadows and stickiness', 'Shadows and stickiness changed.',
      [field('Shadow versions (comma-separated)', shadows), field('Sticky by request header', header), field('Sticky by API key', byKey)],
      (d) => {
        shadows.value = d.shadow.map((x) => String(x.version)).join(', ');
        header.value = typeof d.sticky?.header === 'string' ? d.sticky.header : '';
        byKey.checked = d.sticky?.key === true;
      },
      () => {
        const name = header.value.trim();
        if (name && byKey.checked) throw new Error('Sticky routing keys on a header or on the API key, not both.');
        return {
          shadow: shadows.value.split(',').map((x) => x.trim()).filter(Boolean).map((x) => ({ version: Number(x) })),
          sticky: name ? { header: name } : byKey.checked ? { key: true } : {}, // {} turns stickiness off
        };
      });
  }

  // A new rollout: the split to start from and the plan that moves the canary's share step by step.
  function rolloutForm(): { section: HTMLElement; follow(d: Deployment): void } {
    const traffic = h('input', { type: 'text', required: true, pattern: splitPattern });
    const plan = h('textarea', { rows: 2, required: true, placeholder: '{"steps": [10, 50, 100], "dwell_seconds": 300}' });
    return changeForm('deployment-rollout', 'Start a rollout', 'Start the rollout', 'Rollout started.',
      [field('Rollout traffic (version:percent, ...)', traffic), field('Rollout plan (JSON)', plan, 'The canary\'s share step by step, each held for its dwell time while its checks pass (docs/api.md).')],
      (d) => { traffic.value = shares(d); plan.value = d.plan ? JSON.stringify(d.plan) : ''; },
      () => {
        let parsed: unknown;
        try { parsed = JSON.parse(plan.value); } catch (err) { throw new Error(`The rollout plan is not valid JSON: ${(err as Error).message}`); }
        return { traffic: parseSplit(traffic.value), plan: parsed };
      });
  }

  const editors = writable ? [splitForm(), routingForm(), rolloutForm()] : [];

  // A running rollout's facts and buttons are drawn each time (it moves on its own); any other deployment's only when
  // it changed (state, split, revision...), so a button keeps the focus while the metrics below follow the traffic.
  let shown = '';
  async function draw(): Promise<Deployment> {
    const d = await api<Deployment>(base);
    const { history } = await api<{ history: HistoryRow[] }>(`${base}/history?limit=50`);
    const running = d.state === 'active' || d.state === 'paused';
    const facts = JSON.stringify({ ...d, metrics: undefined });
    if (facts !== shown || (d.state === 'active' && d.plan)) drawFacts(d, running);
    shown = facts;
    for (const editor of editors) editor.follow(d);
    drawDetails(d, history, await keyNames(me));
    return d;
  }

  function drawFacts(d: Deployment, running: boolean): void {
    replace(view,
      h('dl', { class: 'facts', id: 'deployment-status', 'data-state': d.state },
        h('dt', null, 'State'), h('dd', null, h('span', { class: `badge ${d.state}` }, d.state), d.reason ? ` (${d.reason})` : ''),
        h('dt', null, 'Model'), h('dd', null, h('a', { href: `#/models/${seg(d.model)}` }, d.model)),
        h('dt', null, 'Traffic'), h('dd', null, splitBar(d.traffic), split(d.traffic)),
        h('dt', null, 'Stable'), h('dd', null, `v${d.stable}`), h('dt', null, 'Canary'), h('dd', null, d.canary ? `v${d.canary}` : '–'),
        h('dt', null, 'Shadows'), h('dd', null, d.shadow.map((s) => `v${s.version}`).join(', ') || '–'),
        h('dt', null, 'Sticky'), h('dd', null, d.sticky ? JSON.stringify(d.sticky) : 'no'),
        h('dt', null, 'Rollout plan'), h('dd', null, d.plan ? `${JSON.stringify(d.plan)} · step ${d.step ?? '–'}` : 'none'),
        h('dt', null, 'Revision'), h('dd', null, String(d.revision)), h('dt', null, 'Updated'), h('dd', null, when(d.updated_at))),
      writable ? h('div', { class: 'actions' },
        running && d.canary ? h('button', { type: 'button', onclick: () => void act('promote') }, 'Promote the canary') : null,
        d.state === 'active' && d.plan ? h('button', { type: 'button', onclick: () => void act('pause') }, 'Pause') : null,
        d.state === 'paused' ? h('button', { type: 'button', onclick: () => void act('resume') }, 'Resume') : null,
        running ? confirmButton('Abort', 'Really abort?', () => act('abort'), 'danger', `abort:${name}`) : null,
        confirmButton('Delete deployment', 'Really delete?', async () => {
          try { await api(base, { method: 'DELETE' }); location.hash = '#/deployments'; } catch (e) { status.error(e as Error); }
        }, 'danger', `delete-deployment:${name}`)) : null);
  }

  // The tables are redrawn in boxes that stay, so a table scrolled sideways (a narrow window) stays where it was.
  const metricsBox = tableBox('Metrics per version');
  const historyBox = tableBox('History');
  replace(details,
    h('section', { 'aria-label': 'Metrics per version' }, h('h2', null, 'Metrics per version (this server, current step)'), metricsBox),
    h('section', { 'aria-label': 'History' }, h('h2', null, 'History'), historyBox));
  function drawDetails(d: Deployment, history: HistoryRow[], names: KeyNames): void {
    replace(metricsBox, h('table', { class: 'list compact' },
        h('thead', null, h('tr', null, ['Version', 'Requests', 'Errors', 'Error rate', 'p99 ms', 'Comparisons', 'Exact match', 'Max abs error', 'Dropped'].map((t) => h('th', { scope: 'col' }, t)))),
        // A rate of nothing is no rate: before a version's first request (or first shadow comparison) its error
        // rate, p99, exact match and error read "–", not a perfect 0 or 100%.
        h('tbody', null, d.metrics.map((m) => h('tr', null, h('th', { scope: 'row' }, `v${m.version}`), h('td', null, String(m.requests)), h('td', null, String(m.errors)),
          h('td', null, m.requests ? percent(m.error_rate) : '–'), h('td', null, m.requests ? num(m.p99_ms, 1) : '–'), h('td', null, String(m.comparisons)),
          h('td', null, m.comparisons ? percent(m.exact_match_rate) : '–'),
          h('td', null, !m.comparisons ? '–' : m.max_abs_error > 1e300 ? 'outputs differ in shape' : num(m.max_abs_error, 4)), h('td', null, String(m.dropped)))))));
    replace(historyBox, h('table', { class: 'list', id: 'deployment-history' },
      h('thead', null, h('tr', null, ['When', 'Actor', 'Action', 'State', 'Traffic', 'Reason', 'Revision'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, history.map((r) => h('tr', { 'data-action': r.action },
        h('td', null, when(r.at)), h('td', null, actor(names, r.actor)), h('td', null, r.action), h('td', null, r.state), h('td', null, split(r.traffic)),
        h('td', null, r.reason ?? '–'), h('td', null, String(r.revision)))))));
  }

  // The page follows the deployment while it is open: a rollout moves on its own, and the metrics per version move
  // with the traffic of any deployment (the numbers to watch before promoting or aborting a canary).
  // Only the latest call schedules the next redraw, so a button pressed while one is due never starts a second chain.
  let generation = 0;
  async function loop(): Promise<void> {
    const mine = ++generation;
    clearTimeout(timer);
    try { await draw(); } catch (e) { status.error(e as Error); }
    if (!stopped && mine === generation) timer = window.setTimeout(() => void loop(), 3000);
  }

  replace(root, h('p', null, h('a', { href: '#/deployments' }, '← Deployments')), h('h1', null, `Deployment ${name}`), status, view, ...editors.map((e) => e.section), details);
  await loop();
  return () => { stopped = true; clearTimeout(timer); };
}
