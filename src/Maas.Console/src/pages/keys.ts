// Tenants and API keys (admin): create (the secret is shown once), list, revoke; tenants disabled, enabled, deleted.
import { api, seg } from '../api';
import { confirmButton, field, h, nameInput, replace, statusLine, tableBox, when } from '../dom';
import { forgetKeyNames } from '../keynames';
import type { PageContext } from '../main';

interface Tenant { name: string; limits?: Record<string, number | null>; created_at?: string; disabled?: boolean }
interface Key { id: string; prefix: string; name: string; tenant: string; scopes: string[]; models: string[]; status: string; expires_at?: string | null; last_used_at?: string | null; created_at?: string }
// Every scope the server knows (MaasScopes.All), so a key for datasets and training can be made here too.
const scopes = ['infer', 'models:read', 'models:write', 'datasets:read', 'datasets:write', 'training:read', 'training:write', 'admin'];
// The tenant the first start creates: it holds the first admin key, and the server refuses to disable or delete it.
const defaultTenant = 'default';

export async function keysPage({ me, root }: PageContext): Promise<void> {
  // Boxes that stay while their tables are redrawn: a table scrolled sideways (a narrow window) stays where it was.
  const tenantsOut = tableBox('Tenants');
  const keysOut = tableBox('API keys');
  const secretOut = h('div', { 'aria-live': 'polite' });
  const status = statusLine();
  const showRevoked = h('input', { type: 'checkbox' });
  let tenants: Tenant[] = [];

  async function load(): Promise<void> {
    tenants = (await api<{ tenants: Tenant[] }>('/api/v1/tenants')).tenants;
    const keys = (await api<{ keys: Key[] }>(`/api/v1/keys${showRevoked.checked ? '?include_revoked=true' : ''}`)).keys;
    replace(tenantsOut, h('table', { class: 'list' },
      h('caption', { class: 'sr-only' }, 'Tenants'),
      h('thead', null, h('tr', null, ['Tenant', 'Status', 'Limits', 'Created', ''].map((t) => h('th', { scope: 'col' }, t || h('span', { class: 'sr-only' }, 'Actions'))))),
      h('tbody', null, tenants.map((t) => h('tr', { 'data-tenant': t.name }, h('td', null, t.name),
        h('td', null, h('span', { class: `badge ${t.disabled ? 'disabled' : 'active'}` }, t.disabled ? 'disabled' : 'active')),
        h('td', null, Object.entries(t.limits ?? {}).filter(([, v]) => typeof v === 'number').map(([k, v]) => `${k}: ${v}`).join(', ') || 'none'),
        h('td', null, when(t.created_at)),
        h('td', null, t.name === defaultTenant ? null : tenantActions(t)))))));
    tenantSelect.replaceChildren(...tenants.map((t) => h('option', { value: t.name }, t.name)));
    replace(keysOut, h('table', { class: 'list' },
      h('caption', { class: 'sr-only' }, 'API keys'),
      h('thead', null, h('tr', null, ['Name', 'Prefix', 'Tenant', 'Scopes', 'Models', 'Status', 'Last used', 'Expires', ''].map((t) => h('th', { scope: 'col' }, t || h('span', { class: 'sr-only' }, 'Actions'))))),
      h('tbody', null, keys.map((k) => h('tr', { 'data-key': k.id },
        h('td', null, k.name), h('td', null, h('code', null, `${k.prefix}…`)), h('td', null, k.tenant), h('td', null, k.scopes.join(', ')),
        h('td', null, k.models.join(', ') || 'all'), h('td', null, h('span', { class: `badge ${k.status}` }, k.status)), h('td', null, when(k.last_used_at)), h('td', null, when(k.expires_at)),
        // The key this console is signed in with ends the session when revoked: the question says so.
        h('td', null, k.status === 'active' ? confirmButton('Revoke', k.id === me.key_id ? `Really revoke ${k.name}? It is the key of this session: you will be signed out.` : `Really revoke ${k.name}?`, async () => {
          await api(`/api/v1/keys/${seg(k.id)}`, { method: 'DELETE' });
          status.ok(`Revoked ${k.name} (${k.prefix}…).`);
          await load();
        }) : null))))));
  }

  // Disable asks first (every key of the tenant stops working, this session's too when it is the tenant's);
  // enable does not. Delete asks first; the server refuses it, naming what the tenant still owns, and that is shown.
  function tenantActions(t: Tenant): (HTMLElement | string)[] {
    const own = t.name === me.tenant ? ' This session\'s key is one of them: you will be signed out.' : '';
    const toggle = t.disabled
      ? h('button', {
        type: 'button', onclick: async () => {
          try { await setDisabled(t, false); } catch (err) { status.error(err as Error); }
        },
      }, 'Enable')
      : confirmButton('Disable', `Really disable ${t.name}? Its keys are refused until it is enabled.${own}`, () => setDisabled(t, true), 'danger', `disable-${t.name}`);
    return [toggle, ' ', confirmButton('Delete', `Really delete ${t.name}? Its keys are revoked.${own}`, async () => {
      await api(`/api/v1/tenants/${seg(t.name)}`, { method: 'DELETE' });
      status.ok(`Deleted tenant ${t.name}; its keys are revoked, its usage and audit history stay.`);
      await load();
    }, 'danger', `delete-${t.name}`)];
  }

  async function setDisabled(t: Tenant, disabled: boolean): Promise<void> {
    await api(`/api/v1/tenants/${seg(t.name)}`, { method: 'PATCH', json: { disabled } });
    status.ok(disabled ? `Disabled tenant ${t.name}: its keys are refused.` : `Enabled tenant ${t.name}.`);
    await load();
  }

  const tenantName = nameInput({});
  const tenantForm = h('form', { class: 'row' }, field('New tenant', tenantName), h('button', { type: 'submit' }, 'Create tenant'));
  tenantForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    try { await api('/api/v1/tenants', { json: { name: tenantName.value.trim() } }); tenantName.value = ''; await load(); status.ok('Tenant created.'); } catch (err) { status.error(err as Error); }
  });

  const keyName = h('input', { type: 'text', required: true });
  const tenantSelect = h('select');
  const models = h('input', { type: 'text', placeholder: 'every model (or: faces, chat-*)' });
  const expires = h('input', { type: 'datetime-local' });
  const boxes = scopes.map((sc) => h('input', { type: 'checkbox', value: sc, checked: sc === 'infer' }));
  const keyForm = h('form', null,
    h('div', { class: 'row' }, field('Key name', keyName), field('Tenant', tenantSelect), field('Models', models), field('Expires', expires)),
    h('fieldset', null, h('legend', null, 'Scopes'), boxes.map((b) => { b.id = `scope-${b.value.replace(':', '-')}`; return h('label', { class: 'check', for: b.id }, b, ` ${b.value}`); })),
    h('button', { type: 'submit', class: 'primary' }, 'Create key'));
  keyForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const created = await api<Key & { key: string }>('/api/v1/keys', {
        json: {
          name: keyName.value.trim(), tenant: tenantSelect.value, scopes: boxes.filter((b) => b.checked).map((b) => b.value),
          models: models.value.split(',').map((m) => m.trim()).filter(Boolean), expires_at: expires.value ? new Date(expires.value).toISOString() : undefined,
        },
      });
      const secret = h('input', { type: 'text', readonly: true, value: created.key, class: 'secret', id: 'new-key-secret' });
      const copyStatus = statusLine();
      replace(secretOut, h('div', { class: 'card secret-box', role: 'alert' },
        h('h3', null, `Key "${created.name}" created`),
        h('p', null, 'Copy the key now: it is shown this once and cannot be read back.'),
        field('Secret', secret),
        // Copy says what it did: the clipboard is missing outside a secure context (plain http to another host) and
        // may be refused, and then the key is only selected for the user to copy.
        h('div', { class: 'actions' },
          h('button', { type: 'button', onclick: async () => {
            secret.select();
            const copied = navigator.clipboard ? await navigator.clipboard.writeText(created.key).then(() => true, () => false) : false;
            copyStatus.ok(copied ? 'Copied to the clipboard.' : 'Selected: press Ctrl+C (⌘C) to copy it; this page cannot reach the clipboard.');
          } }, 'Copy'),
          h('button', { type: 'button', onclick: () => secretOut.replaceChildren() }, 'Done')),
        copyStatus));
      keyName.value = '';
      // Pages that name keys (who moved an alias, usage by key) read the names again, the new key's with them.
      forgetKeyNames();
      await load();
    } catch (err) { status.error(err as Error); }
  });
  showRevoked.addEventListener('change', () => { load().catch((e) => status.error(e as Error)); });

  // The tenants are loaded before the form is shown, so a key is never created with no tenant chosen.
  await load();
  replace(root, h('h1', null, 'Tenants and keys'), status,
    h('section', { 'aria-labelledby': 'tenants-h' }, h('h2', { id: 'tenants-h' }, 'Tenants'), tenantsOut, tenantForm),
    h('section', { 'aria-labelledby': 'keys-h' }, h('h2', { id: 'keys-h' }, 'API keys'), secretOut, keyForm,
      h('p', null, h('label', { class: 'check' }, showRevoked, ' show revoked and expired keys')), keysOut));
}
