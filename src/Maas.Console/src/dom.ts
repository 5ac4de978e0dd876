// A tiny DOM builder: h('div', {class: 'x', onclick: f}, 'text', child). No innerHTML anywhere (CSP and XSS).
export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, unknown> | null | undefined;

function apply(el: Element, attrs: Attrs): void {
  if (!attrs) return;
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value as EventListener);
    } else if (name === 'value' || name === 'checked' || name === 'selected' || name === 'indeterminate') {
      (el as unknown as Record<string, unknown>)[name] = value;
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
}

function append(el: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An HTML element with attributes, event handlers (on*) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element (charts). */
export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/** Replaces an element's children. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/**
 * A box a table scrolls sideways in when it is wider than the page, so the page itself never scrolls sideways (at
 * 800 px, a table of ten columns). While it scrolls, the box is a named region a keyboard can reach and scroll. A box
 * that stays in the page while a redraw replaces its table (a list refreshed every second) keeps its scroll position.
 */
export function tableBox(label: string, ...children: Child[]): HTMLDivElement {
  const box = h('div', { class: 'table-scroll' }, ...children);
  const mark = (): void => {
    if (box.scrollWidth > box.clientWidth + 1) {
      box.tabIndex = 0;
      box.setAttribute('role', 'region');
      box.setAttribute('aria-label', `${label} (scrolls sideways)`);
    } else {
      box.removeAttribute('tabindex');
      box.removeAttribute('role');
      box.removeAttribute('aria-label');
    }
  };
  // The box resizes with the window; its table, with its rows (a new one each redraw).
  const sizes = new ResizeObserver(mark);
  const watchTables = (): void => { sizes.disconnect(); sizes.observe(box); box.querySelectorAll(':scope > table').forEach((t) => sizes.observe(t)); };
  new MutationObserver(watchTables).observe(box, { childList: true });
  watchTables();
  return box;
}

let ids = 0;
/** A unique element id (labels point at inputs with it). */
export function uid(prefix = 'f'): string {
  ids += 1;
  return `${prefix}-${ids}`;
}

const nameTitle = "1 to 64 characters from a-z, 0-9, '.', '_' and '-', starting with a letter or digit, without '..'";

/**
 * A text input for the name of a model, dataset or tenant (RegistryNames' rule): the browser refuses a name the API
 * would refuse, and its message says what a name may be instead of only "match the requested format".
 */
export function nameInput(attrs: Record<string, unknown>): HTMLInputElement {
  const input = h('input', { type: 'text', required: true, pattern: '[a-z0-9](?!.*\\.\\.)[a-z0-9._\\-]{0,63}', title: nameTitle, ...attrs });
  input.addEventListener('input', () => {
    input.setCustomValidity('');
    if (input.validity.patternMismatch) input.setCustomValidity(`Not a valid name: use ${nameTitle}.`);
  });
  return input;
}

/** A labelled form field: the label, then the control. */
export function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  if (!control.id) control.id = uid();
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hint ? h('small', { class: 'hint' }, hint) : null);
}

/** A status line for a section: messages and errors go here (announced to screen readers). */
export function statusLine(): HTMLElement & { ok(text: string): void; error(text: string | Error): void; clear(): void } {
  const el = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' }) as unknown as HTMLElement & { ok(text: string): void; error(text: string | Error): void; clear(): void };
  el.ok = (text) => { el.className = 'status ok'; el.textContent = text; };
  el.error = (e) => { el.className = 'status error'; el.textContent = typeof e === 'string' ? e : e.message; };
  el.clear = () => { el.className = 'status'; el.textContent = ''; };
  return el;
}

/**
 * Puts a page's state (filters, page) in the address without drawing the page again, so a reload or a copied link
 * shows the same view. Only while the page is still the one shown.
 */
export function keepQuery(route: string, query: URLSearchParams): void {
  const current = location.hash.replace(/^#\/?/, '').split('?')[0];
  if (current !== route) return;
  const text = query.toString();
  const hash = `#/${route}${text ? `?${text}` : ''}`;
  if (location.hash !== hash) history.replaceState(history.state, '', hash);
}

/** Bytes for people: 1.2 MiB. */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** A date for people (local time, to the second). */
export function when(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** A number with at most `digits` decimals. */
export function num(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  return Number.isInteger(v) ? String(v) : v.toFixed(digits);
}

// Confirmations asked for and not yet answered, by the key of what they act on (with when they were asked), and the
// one that had the focus: a view that redraws itself every second (a job list, a running job) makes a new button each
// time, which must still ask "Really ...?" and keep the focus, or the user could never confirm in time.
const armedKeys = new Map<string, number>();
let focusedKey: string | null = null;

/** How long a question waits for its answer: one asked and left must not turn a much later click into the action. */
export const confirmWaitMs = 6000;

/**
 * A button that asks once more before acting ("Delete" then "Really delete?"); a failed action is shown in the page.
 * The question lapses after `confirmWaitMs` or on Escape. With a `key` (what it acts on, e.g. "cancel:job-id") a
 * button drawn again while asking goes on asking, until the same moment.
 */
export function confirmButton(label: string, confirmLabel: string, action: () => Promise<void> | void, cls = 'danger', key?: string): HTMLButtonElement {
  const button = h('button', { type: 'button', class: cls }, label);
  let armed = false;
  let askedAt = 0;
  let lapse: ReturnType<typeof setTimeout> | undefined;
  const arm = (at: number): void => {
    armed = true;
    askedAt = at;
    button.textContent = confirmLabel;
    button.classList.add('armed');
    if (key) armedKeys.set(key, at);
    clearTimeout(lapse);
    lapse = setTimeout(() => { if (armed) disarm(); }, Math.max(0, at + confirmWaitMs - Date.now()));
  };
  const disarm = (): void => {
    armed = false;
    clearTimeout(lapse);
    button.textContent = label;
    button.classList.remove('armed');
    // A button a redraw took out must not end the question its successor goes on asking (or asked again).
    if (key && armedKeys.get(key) === askedAt) armedKeys.delete(key);
  };
  button.addEventListener('keydown', (e) => { if (e.key === 'Escape' && armed) disarm(); });
  if (key) {
    button.addEventListener('focus', () => { focusedKey = key; });
    // Focus that moves on (not a button taken out by a redraw) is the user's choice: the next redraw leaves it there.
    button.addEventListener('blur', () => { if (button.isConnected && focusedKey === key) focusedKey = null; });
    const asked = armedKeys.get(key);
    if (asked !== undefined && Date.now() - asked < confirmWaitMs) {
      arm(asked);
      // The button it replaces had the focus: this one takes it once it is in the page (the redraw is synchronous).
      if (focusedKey === key) queueMicrotask(() => { if (button.isConnected) button.focus(); });
    } else if (asked !== undefined) {
      armedKeys.delete(key);
    }
  }
  button.addEventListener('click', async () => {
    if (!armed) {
      arm(Date.now());
      return;
    }
    button.disabled = true;
    try { await action(); } catch (e) { actionError(button, `${label}: ${(e as Error).message}`); } finally { button.disabled = false; disarm(); }
  });
  return button;
}

/**
 * Shows why an action failed under the page's heading, where a list that redraws itself (jobs, keys) does not wipe
 * it, so a failure is never only in the browser's console. The next failure replaces it; leaving the page clears it.
 */
export function actionError(from: Element, message: string): void {
  const main = from.closest('main') ?? document.querySelector('main');
  if (!main) return;
  main.querySelector('.action-error')?.remove();
  const alert = h('p', { class: 'status error action-error', role: 'alert' }, message);
  const heading = main.querySelector('h1');
  if (heading) heading.after(alert); else main.prepend(alert);
  alert.scrollIntoView({ block: 'nearest' });
}
