// The console talks to the same public API as every other client, with the key the user signed in with.
const KeyName = 'maas.apiKey';
/** The playground's conversation, kept in the tab beside the key (and cleared with it). */
export const ChatStoreName = 'maas.playground.chat';

export function getKey(): string | null { return sessionStorage.getItem(KeyName); }
export function setKey(key: string): void { sessionStorage.setItem(KeyName, key); }
export function clearKey(): void {
  sessionStorage.removeItem(KeyName);
  // What the last key did in this tab (the playground's conversation) is not the next key's.
  sessionStorage.removeItem(ChatStoreName);
}

/** An error answer of any of the server's protocols (management, OpenAI, OIP v2). */
export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string, public body: unknown) { super(message); }
}

/** Who the key is: GET /api/v1/me. */
export interface Me { key_id: string | null; key_prefix: string | null; key_name: string; tenant: string; scopes: string[]; models: string[] }

/** True when the key has the scope (admin implies every scope; a :write scope implies its :read). */
export function can(me: Me, scope: string): boolean {
  if (me.scopes.includes('admin') || me.scopes.includes(scope)) return true;
  return (scope === 'models:read' && me.scopes.includes('models:write')) || (scope === 'training:read' && me.scopes.includes('training:write'))
    || (scope === 'datasets:read' && me.scopes.includes('datasets:write'));
}

/** What a form says instead of a list the key may not read: "This key cannot list models (it lacks ...): type ...". */
export function cannotList(what: string, scopes: string[], instead: string): string {
  return `This key cannot list ${what} (it lacks the scope${scopes.length > 1 ? 's' : ''} ${scopes.join(' and ')}): ${instead}.`;
}

export function authHeaders(extra?: Record<string, string>): Record<string, string> {
  const key = getKey();
  return { ...(key ? { Authorization: `Bearer ${key}` } : {}), ...(extra ?? {}) };
}

/** Reads an error body of any protocol into an ApiError. */
export async function toError(res: Response): Promise<ApiError> {
  let body: unknown = null;
  const text = await res.text().catch(() => '');
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  const err = (body as { error?: unknown } | null)?.error;
  if (err && typeof err === 'object') {
    const e = err as { code?: string; message?: string; type?: string };
    return new ApiError(res.status, e.code ?? e.type ?? String(res.status), e.message ?? res.statusText, body);
  }
  if (typeof err === 'string') return new ApiError(res.status, String(res.status), err, body);
  // ASP.NET Core's own answers (a 405 or 415 before a route runs) are problem details: their title and detail, not JSON.
  const problem = body as { title?: unknown; detail?: unknown } | null;
  if (problem && typeof problem === 'object' && typeof problem.title === 'string') {
    return new ApiError(res.status, String(res.status), `${res.status} ${problem.title}${typeof problem.detail === 'string' && problem.detail ? `: ${problem.detail}` : ''}`, body);
  }
  return new ApiError(res.status, String(res.status), `${res.status} ${res.statusText}${text ? ': ' + text.slice(0, 200) : ''}`, body);
}

export const onUnauthorized: { handler: (() => void) | null } = { handler: null };

/** Calls the API: a JSON body in (when given) and JSON out (null for 204). */
export async function api<T = unknown>(path: string, init: { method?: string; json?: unknown; body?: BodyInit; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<T> {
  const headers = authHeaders(init.headers);
  let body = init.body;
  if (init.json !== undefined) { headers['Content-Type'] = 'application/json'; body = JSON.stringify(init.json); }
  const res = await fetch(path, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, signal: init.signal });
  if (!res.ok) {
    const error = await toError(res);
    if (res.status === 401 && onUnauthorized.handler) onUnauthorized.handler();
    throw error;
  }
  if (res.status === 204) return null as T;
  const type = res.headers.get('content-type') ?? '';
  return (type.includes('json') ? await res.json() : await res.text()) as T;
}

/** Sends a body with XMLHttpRequest so its upload progress can be shown (fetch cannot report it). */
export function sendWithProgress(method: string, path: string, body: Blob | FormData, headers: Record<string, string>, onProgress: (sent: number, total: number) => void): Promise<{ status: number; json: unknown; headers: (name: string) => string | null }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, path);
    for (const [k, v] of Object.entries(authHeaders(headers))) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : body instanceof Blob ? body.size : 0);
    xhr.onerror = () => reject(new ApiError(0, 'network_error', `the connection to the server broke during ${method} ${path}`, null));
    xhr.onload = () => {
      let json: unknown = null;
      try { json = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { json = xhr.responseText; }
      if (xhr.status >= 400) {
        const e = (json as { error?: { code?: string; message?: string } } | null)?.error;
        reject(new ApiError(xhr.status, e?.code ?? String(xhr.status), e?.message ?? `${xhr.status} ${xhr.statusText}`, json));
        return;
      }
      resolve({ status: xhr.status, json, headers: (n) => xhr.getResponseHeader(n) });
    };
    xhr.send(body);
  });
}

/** What /api/v1/resolve says of a model's deployment: the versions calls reach, and, for its own tenant, its name and split. */
export interface ResolvedDeployment { versions: number[]; name?: string; traffic?: { version: number; percent: number }[]; stable?: number; url?: string }

/**
 * The deployment a reference without a version follows (GET /api/v1/resolve), or null: none, a key that may not
 * resolve (it lacks models:read) or a model with no version to resolve to.
 */
export async function resolveDeployment(ref: string): Promise<ResolvedDeployment | null> {
  try {
    const resolved = await api<{ deployment?: ResolvedDeployment | null }>(`/api/v1/resolve?ref=${seg(ref)}`);
    return resolved.deployment && Array.isArray(resolved.deployment.versions) ? resolved.deployment : null;
  } catch { return null; }
}

/** URL-safe path segment. */
export const seg = encodeURIComponent;

/**
 * A version metadata entry that holds JSON (stored as text, e.g. "maas.image", "maas.tabular"), parsed, or null when
 * it is absent, not JSON or fails `valid`.
 */
export function metadataJson<T>(metadata: Record<string, unknown> | undefined, key: string, valid: (value: T) => boolean): T | null {
  const raw = metadata?.[key];
  if (!raw) return null;
  try {
    const value = (typeof raw === 'string' ? JSON.parse(raw) : raw) as T;
    return valid(value) ? value : null;
  } catch { return null; }
}
