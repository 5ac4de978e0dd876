// Who did something, as people know them: the API records the id of the key that acted ("created_by",
// "updated_by", a deployment's actor, usage's key_id); the console shows the key's name, with the id in a tooltip.
// Names come from GET /api/v1/keys, which only an admin key may read; any other key knows its own name (GET
// /api/v1/me) and is shown the ids of the others, saying why.
import { api, can, type Me } from './api';
import { h } from './dom';

/** Key names by key id. */
export type KeyNames = ReadonlyMap<string, string>;

// Pages that redraw every few seconds (a deployment) read the list once in a while, not at each redraw.
const keepMs = 30_000;
let cached: { key: string; at: number; names: Promise<Map<string, string>> } | null = null;

/** The names of the keys this caller may know: every key's (revoked ones too) for an admin, else its own. */
export function keyNames(me: Me): Promise<KeyNames> {
  const key = `${me.key_id ?? ''}|${can(me, 'admin')}`;
  if (cached && cached.key === key && Date.now() - cached.at < keepMs) return cached.names;
  const names = (async () => {
    const known = new Map<string, string>();
    if (can(me, 'admin')) {
      try {
        const { keys } = await api<{ keys: { id: string; name: string }[] }>('/api/v1/keys?include_revoked=true');
        for (const k of keys) known.set(k.id, k.name);
      } catch { /* the ids are shown instead */ }
    }
    if (me.key_id) known.set(me.key_id, me.key_name);
    return known;
  })();
  cached = { key, at: Date.now(), names };
  return names;
}

/** Forgets the names read (a key was created or revoked). */
export function forgetKeyNames(): void { cached = null; }

/** True for what the API records of a key (key_ and its hex digits); "system", "maas" and "anonymous" are not keys. */
const isKeyId = (id: string): boolean => /^key_[0-9a-f]+$/i.test(id);

/** The name of the key `id` ("ci-bot", the id in its tooltip); the id itself, said to be one, when the name is not known. */
export function actor(names: KeyNames, id: string | null | undefined): HTMLElement | string {
  if (!id) return '–';
  const name = names.get(id);
  if (name !== undefined) return h('span', { class: 'actor', 'data-key': id, title: `API key ${id}` }, name);
  if (!isKeyId(id)) return id;
  return h('span', { class: 'actor unnamed', 'data-key': id, title: 'An API key; only an admin key may read the names of other keys' }, h('code', null, id));
}

/** The same as text (a chart's legend): the name, or the id when the name is not known. */
export function actorText(names: KeyNames, id: string): string {
  return names.get(id) ?? id;
}
