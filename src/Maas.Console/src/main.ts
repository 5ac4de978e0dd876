// The console's shell: sign-in with an API key, the navigation that follows the key's scopes, and a hash router.
import { api, can, clearKey, getKey, onUnauthorized, setKey, type Me } from './api';
import { field, h, replace, statusLine } from './dom';
import { modelsPage } from './pages/models';
import { modelPage } from './pages/model';
import { playgroundPage } from './pages/playground';
import { metricsPage } from './pages/metrics';
import { usagePage } from './pages/usage';
import { keysPage } from './pages/keys';
import { jobsPage } from './pages/jobs';
import { datasetPage, datasetsPage } from './pages/datasets';
import { trainingJobPage, trainingPage } from './pages/training';
import { fineTuningJobPage, fineTuningPage } from './pages/finetuning';
import { deploymentPage, deploymentsPage } from './pages/deployments';

/** What every page gets: the caller, where to draw, and the route's parameters. */
export interface PageContext { me: Me; root: HTMLElement; params: string[]; query: URLSearchParams }
/** A page draws itself and may return a clean-up (timers, streams) for when the user leaves it. */
export type Page = (ctx: PageContext) => Promise<(() => void) | void>;

/** A route and the scopes that open it (any one of them). */
interface Route { path: RegExp; title: string; nav?: string; scopes: string[]; page: Page }

const allowed = (route: Route, who: Me): boolean => route.scopes.some((scope) => can(who, scope));

const routes: Route[] = [
  { path: /^models$/, title: 'Models', nav: '#/models', scopes: ['models:read'], page: modelsPage },
  // A model page is for `name` (the caller's own) or `owner/name` (another tenant's shared model).
  { path: /^models\/([^/]+(?:\/[^/]+)?)$/, title: 'Model', scopes: ['models:read'], page: modelPage },
  { path: /^playground$/, title: 'Playground', nav: '#/playground', scopes: ['infer'], page: playgroundPage },
  { path: /^metrics$/, title: 'Metrics', nav: '#/metrics', scopes: ['models:read'], page: metricsPage },
  { path: /^usage$/, title: 'Usage', nav: '#/usage', scopes: ['models:read'], page: usagePage },
  { path: /^datasets$/, title: 'Datasets', nav: '#/datasets', scopes: ['datasets:read'], page: datasetsPage },
  { path: /^datasets\/([^/]+(?:\/[^/]+)?)$/, title: 'Dataset', scopes: ['datasets:read'], page: datasetPage },
  { path: /^training$/, title: 'Training', nav: '#/training', scopes: ['training:read'], page: trainingPage },
  { path: /^training\/([^/]+)$/, title: 'Training job', scopes: ['training:read'], page: trainingJobPage },
  { path: /^fine-tuning$/, title: 'Fine-tuning', nav: '#/fine-tuning', scopes: ['training:read'], page: fineTuningPage },
  { path: /^fine-tuning\/([^/]+)$/, title: 'Fine-tuning job', scopes: ['training:read'], page: fineTuningJobPage },
  { path: /^deployments$/, title: 'Deployments', nav: '#/deployments', scopes: ['models:read'], page: deploymentsPage },
  { path: /^deployments\/([^/]+(?:\/[^/]+)?)$/, title: 'Deployment', scopes: ['models:read'], page: deploymentPage },
  { path: /^jobs$/, title: 'Jobs', nav: '#/jobs', scopes: ['models:read', 'training:read'], page: jobsPage },
  { path: /^keys$/, title: 'Tenants and keys', nav: '#/keys', scopes: ['admin'], page: keysPage },
];

const app = document.getElementById('app')!;
let me: Me | null = null;
let cleanup: (() => void) | void = undefined;

function signIn(message?: string): void {
  me = null;
  document.title = 'Sign in · MaaS console';
  const key = h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, name: 'api-key' });
  const status = statusLine();
  if (message) status.error(message);
  const form = h('form', { class: 'card signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'MaaS console'),
    h('p', null, 'Sign in with an API key. It is kept in this tab only (session storage) and sent to this server with each request.'),
    field('API key', key),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    setKey(key.value.trim());
    try {
      me = await api<Me>('/api/v1/me');
      route();
    } catch (err) {
      clearKey();
      status.error(err as Error);
    }
  });
  replace(app, h('main', { id: 'main' }, form));
  key.focus();
}

function signOut(): void {
  clearKey();
  if (cleanup) cleanup();
  cleanup = undefined;
  location.hash = '';
  signIn();
}

function layout(current: Route | undefined): HTMLElement {
  const who = me!;
  const nav = h('nav', { 'aria-label': 'Console' },
    h('ul', null, routes.filter((r) => r.nav && allowed(r, who)).map((r) =>
      h('li', null, h('a', { href: r.nav, 'aria-current': current === r || (current !== undefined && !current.nav && r.nav !== undefined && current.path.source.startsWith(r.path.source.slice(0, -1) + '\\/')) ? 'page' : false }, r.title)))));
  const main = h('main', { id: 'main' });
  replace(app,
    h('header', { class: 'top' },
      h('a', { class: 'brand', href: '#/' }, 'MaaS'),
      nav,
      h('div', { class: 'who' },
        h('span', { title: `scopes: ${who.scopes.join(', ')}` }, `${who.key_name} · ${who.tenant} · ${who.scopes.join(', ')}`),
        h('button', { type: 'button', onclick: signOut }, 'Sign out'))),
    main);
  return main;
}

async function route(): Promise<void> {
  if (!me) return;
  if (cleanup) { cleanup(); cleanup = undefined; }
  const [pathPart, queryPart] = location.hash.replace(/^#\/?/, '').split('?');
  const path = decodeURIComponent(pathPart ?? '');
  const target = routes.find((r) => r.path.test(path));
  if (!target) {
    const first = routes.find((r) => r.nav && allowed(r, me!));
    if (first) { location.replace(first.nav!); return; }
  }
  const main = layout(target);
  if (!target || !allowed(target, me)) {
    document.title = 'Not allowed · MaaS console';
    const has = `your key has ${me.scopes.join(', ') || 'none'}`;
    replace(main, h('h1', null, 'Not allowed'), h('p', { id: 'not-allowed' }, target
      ? `This key cannot open ${target.title.toLowerCase()}: the page needs the scope ${target.scopes.join(' or ')}; ${has}. Ask an admin for a key with it.`
      : `This key cannot use any page of this console; ${has}.`));
    focusHeading(main);
    return;
  }
  const params = (target.path.exec(path) ?? []).slice(1).map(decodeURIComponent);
  document.title = `${params[0] ?? target.title} · MaaS console`;
  try {
    cleanup = await target.page({ me, root: main, params, query: new URLSearchParams(queryPart ?? '') });
  } catch (err) {
    // A page that failed before drawing (a model that does not exist) still says where the user is.
    if (!main.querySelector('h1')) main.prepend(h('h1', null, params[0] ? `${target.title} ${params[0]}` : target.title));
    main.appendChild(h('p', { class: 'status error', role: 'alert' }, (err as Error).message));
  }
  focusHeading(main);
}

// Drawing a page replaces the header too, so the link or button that led there is gone and the focus falls to the
// document: a keyboard user would start again from the top and a screen reader would say nothing. The new page's
// heading takes the focus instead (unless the page gave it to something else, or the user moved it meanwhile).
function focusHeading(main: HTMLElement): void {
  const active = document.activeElement;
  if (active && active !== document.body && active.isConnected) return;
  const heading = main.querySelector('h1');
  if (!heading || !main.isConnected) return;
  heading.tabIndex = -1;
  heading.focus({ preventScroll: true });
}

// A key that stops working while signed in (revoked, expired) ends the session; at sign-in the form shows the reason.
onUnauthorized.handler = () => { if (me) { clearKey(); signIn('The key is no longer accepted (revoked or expired); sign in again.'); } };
window.addEventListener('hashchange', () => { void route(); });
// A field the browser refuses inside a closed <details> (the playground's parameters folded away) could not show why,
// and the form would do nothing: its section opens so the browser's message points at it.
document.addEventListener('invalid', (e) => { (e.target as Element).closest('details')?.setAttribute('open', ''); }, true);

async function start(): Promise<void> {
  if (!getKey()) { signIn(); return; }
  try {
    me = await api<Me>('/api/v1/me');
    await route();
  } catch (err) {
    clearKey();
    signIn((err as Error).message);
  }
}

void start();
