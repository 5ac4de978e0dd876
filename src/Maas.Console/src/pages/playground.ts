// The playground: chat with any LLM (streamed from /v1/chat/completions) and run any ONNX model from a form made
// from its signature, with an image mode that turns a picture into the input tensor and draws what comes back.
import { api, authHeaders, can, ChatStoreName, cannotList, seg, toError, type ResolvedDeployment } from '../api';
import { deploymentNote } from './model';
import { field, h, replace, statusLine } from '../dom';
import type { PageContext } from '../main';
import type { Model, OutputLabels, TensorSpec } from '../types';
import { tabularForm, tabularModelInfo } from '../tabular';
import { detections, drawResult, imageLayout, imageModelInfo, presetFromMetadata, presets, toTensor, topClasses, unitPreset, type ImageModelInfo, type ImagePreset } from '../vision';

export async function playgroundPage(ctx: PageContext): Promise<() => void> {
  const tab = ctx.query.get('tab') === 'onnx' ? 'onnx' : 'chat';
  const panel = h('div');
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Playground' },
    h('a', { href: '#/playground?tab=chat', 'aria-current': tab === 'chat' ? 'page' : false }, 'Chat with an LLM'),
    h('a', { href: '#/playground?tab=onnx', 'aria-current': tab === 'onnx' ? 'page' : false }, 'Run an ONNX model'));
  replace(ctx.root, h('h1', null, 'Playground'), tabs, panel);
  if (tab === 'chat') return chat(ctx, panel);
  await onnx(ctx, panel);
  return () => undefined;
}

interface ChatMessage { role: string; content: string | null; tool_calls?: unknown[]; tool_call_id?: string }

// The conversation outlives a reload (or a visit to another page) in the tab's session storage, beside the key: a
// reload used to lose it. Signing out clears it (api.ts).
interface SavedChat { model: string; system: string; messages: ChatMessage[] }

function loadChat(): SavedChat | null {
  try {
    const saved = JSON.parse(sessionStorage.getItem(ChatStoreName) ?? 'null') as SavedChat | null;
    return saved && typeof saved.model === 'string' && typeof saved.system === 'string' && Array.isArray(saved.messages) ? saved : null;
  } catch { return null; }
}

function saveChat(chat: SavedChat | null): void {
  try {
    if (chat && chat.messages.length) sessionStorage.setItem(ChatStoreName, JSON.stringify(chat));
    else sessionStorage.removeItem(ChatStoreName);
  } catch { /* storage full or off: the chat is only not kept */ }
}

/** How an assistant turn reads in the transcript: its text, or a line per tool call. */
function turnText(message: ChatMessage): string {
  const calls = (message.tool_calls ?? []) as ToolCallDelta[];
  return calls.length ? calls.map((c) => `tool call: ${c.function.name}(${compactJson(c.function.arguments)})`).join('\n') : message.content ?? '';
}

async function chat({ query }: PageContext, root: HTMLElement): Promise<() => void> {
  const model = h('select', { required: true });
  const system = h('textarea', { rows: 2, placeholder: 'You are a helpful assistant.' });
  const temperature = h('input', { type: 'number', min: 0, max: 2, step: 0.1, value: '0.7' });
  const topP = h('input', { type: 'number', min: 0, max: 1, step: 0.05, value: '1' });
  const maxTokens = h('input', { type: 'number', min: 1, max: 32768, value: '128' });
  const seed = h('input', { type: 'number', placeholder: 'random' });
  const format = h('select', null, [['text', 'text'], ['json_object', 'JSON object'], ['json_schema', 'JSON schema']].map(([v, t]) => h('option', { value: v }, t)));
  const schema = h('textarea', { rows: 4, value: '{"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}' });
  const tools = h('textarea', { rows: 4, placeholder: '[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]' });
  const toolChoice = h('select', null, ['auto', 'required', 'none'].map((v) => h('option', { value: v }, v)));
  const parallel = h('input', { type: 'checkbox', checked: true });
  const transcript = h('div', { class: 'transcript', 'aria-live': 'polite', 'aria-label': 'Conversation', role: 'log' });
  const prompt = h('textarea', { rows: 3, required: true, placeholder: 'Say something…' });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const stop = h('button', { type: 'button', disabled: true }, 'Stop');
  const clear = h('button', { type: 'button' }, 'New chat');
  const status = statusLine();
  const messages: ChatMessage[] = [];
  let abort: AbortController | null = null;

  try {
    const list = await api<{ data: { id: string }[] }>('/v1/models');
    for (const m of list.data) model.appendChild(h('option', { value: m.id }, m.id));
    if (query.get('model')) model.value = query.get('model')!;
    if (list.data.length === 0) status.error('No LLM (GGUF model) is visible to this key.');
  } catch (e) { status.error(e as Error); }
  const saved = loadChat();
  // Taken up again unless the address asks for another model, or the model is no longer there.
  const resume = saved && (!query.get('model') || query.get('model') === saved.model) && [...model.options].some((o) => o.value === saved.model) ? saved : null;

  const schemaField = field('JSON schema', schema);
  schemaField.hidden = true;
  format.addEventListener('change', () => { schemaField.hidden = format.value !== 'json_schema'; });

  function bubble(role: string, text: string): HTMLElement {
    const el = h('div', { class: `msg ${role}` }, h('span', { class: 'role' }, role), h('div', { class: 'text' }, text));
    transcript.appendChild(el);
    return el.querySelector('.text') as HTMLElement;
  }

  const form = h('form', { class: 'chat' },
    h('details', { class: 'card', open: true },
      h('summary', null, 'Model and parameters'),
      h('div', { class: 'row' }, field('Model', model), field('Temperature', temperature), field('Top p', topP), field('Max tokens', maxTokens), field('Seed', seed)),
      field('System prompt', system),
      h('div', { class: 'row' }, field('Response format', format), field('Tool choice', toolChoice), h('label', { class: 'check' }, parallel, ' parallel tool calls')),
      schemaField,
      field('Tools (OpenAI function tools, JSON)', tools)),
    transcript,
    field('Message', prompt),
    h('div', { class: 'actions' }, send, stop, clear),
    status);

  if (resume) {
    model.value = resume.model;
    system.value = resume.system;
    for (const message of resume.messages) {
      messages.push(message);
      bubble(message.role, message.role === 'assistant' ? turnText(message) : message.content ?? '');
    }
  }

  prompt.addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit(); });
  clear.addEventListener('click', () => { messages.length = 0; transcript.replaceChildren(); status.clear(); saveChat(null); });
  stop.addEventListener('click', () => abort?.abort());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = prompt.value.trim();
    if (!text || !model.value) return;
    let toolList: unknown = undefined;
    let schemaValue: unknown = undefined;
    try {
      if (tools.value.trim()) toolList = JSON.parse(tools.value);
      if (format.value === 'json_schema') schemaValue = JSON.parse(schema.value);
    } catch (err) { status.error(`Not valid JSON: ${(err as Error).message}`); return; }
    messages.push({ role: 'user', content: text });
    bubble('user', text);
    prompt.value = '';
    const out = bubble('assistant', '');
    out.classList.add('streaming');
    const body: Record<string, unknown> = {
      model: model.value,
      stream: true,
      stream_options: { include_usage: true },
      messages: [...(system.value.trim() ? [{ role: 'system', content: system.value.trim() }] : []), ...messages],
      temperature: Number(temperature.value),
      top_p: Number(topP.value),
      max_tokens: Number(maxTokens.value),
    };
    if (seed.value) body['seed'] = Number(seed.value);
    if (format.value === 'json_object') body['response_format'] = { type: 'json_object' };
    if (format.value === 'json_schema') body['response_format'] = { type: 'json_schema', json_schema: { name: 'answer', schema: schemaValue, strict: true } };
    if (toolList) { body['tools'] = toolList; body['tool_choice'] = toolChoice.value; body['parallel_tool_calls'] = parallel.checked; }
    abort = new AbortController();
    send.disabled = true;
    stop.disabled = false;
    const started = performance.now();
    let first = 0;
    let content = '';
    const toolCalls: ToolCallDelta[] = [];
    interface Usage { prompt_tokens: number; completion_tokens: number }
    let usage = null as Usage | null;
    let finish = '';
    try {
      const res = await fetch('/v1/chat/completions', { method: 'POST', headers: authHeaders({ 'Content-Type': 'application/json' }), body: JSON.stringify(body), signal: abort.signal });
      if (!res.ok || !res.body) throw await toError(res);
      status.ok('Streaming…');
      for await (const event of sse(res.body)) {
        if (event === '[DONE]') break;
        const chunk = JSON.parse(event) as { error?: { message: string }; choices?: { delta?: { content?: string | null; tool_calls?: unknown[] }; finish_reason?: string | null }[]; usage?: Usage | null };
        if (chunk.error) throw new Error(chunk.error.message);
        for (const choice of chunk.choices ?? []) {
          if (choice.delta?.content) {
            if (!first) first = performance.now();
            content += choice.delta.content;
            out.textContent = content;
          }
          if (choice.delta?.tool_calls) {
            mergeToolCalls(toolCalls, choice.delta.tool_calls as ToolCallDelta[]);
            out.textContent = turnText({ role: 'assistant', content: null, tool_calls: toolCalls });
            out.dataset['toolCalls'] = String(toolCalls.length);
          }
          if (choice.finish_reason) finish = choice.finish_reason;
        }
        if (chunk.usage) usage = chunk.usage;
        transcript.scrollTop = transcript.scrollHeight;
      }
      messages.push(toolCalls.length ? { role: 'assistant', content: null, tool_calls: toolCalls } : { role: 'assistant', content });
      const seconds = (performance.now() - started) / 1000;
      status.ok(`Done (${finish || 'stop'}) in ${seconds.toFixed(2)} s` +
        (first ? `, first token after ${((first - started) / 1000).toFixed(2)} s` : '') +
        (usage ? `, ${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion tokens, ${(usage.completion_tokens / seconds).toFixed(1)} tokens/s` : '') + '.');
    } catch (err) {
      if ((err as Error).name === 'AbortError') { status.ok('Stopped.'); messages.push({ role: 'assistant', content }); } else { status.error(err as Error); messages.pop(); }
    } finally {
      out.classList.remove('streaming');
      send.disabled = false;
      stop.disabled = true;
      abort = null;
      saveChat({ model: model.value, system: system.value, messages });
    }
  });
  replace(root, form);
  return () => abort?.abort();
}

interface ToolCallDelta { index?: number; id?: string; type?: string; function: { name: string; arguments: string } }

/** JSON on one line (the arguments of a call, whose whitespace the model chose), or the text as it came while incomplete. */
function compactJson(text: string): string {
  try { return JSON.stringify(JSON.parse(text)); } catch { return text.replace(/\s+/g, ' '); }
}

/** Streamed tool calls come in pieces (OpenAI's deltas): the first names the call, later ones add to its arguments. */
function mergeToolCalls(calls: ToolCallDelta[], deltas: ToolCallDelta[]): void {
  for (const delta of deltas) {
    const index = delta.index ?? calls.length;
    const call = calls[index];
    if (!call) {
      calls[index] = { index, id: delta.id, type: delta.type ?? 'function', function: { name: delta.function?.name ?? '', arguments: delta.function?.arguments ?? '' } };
    } else {
      if (delta.id) call.id = delta.id;
      if (delta.function?.name) call.function.name += delta.function.name;
      if (delta.function?.arguments) call.function.arguments += delta.function.arguments;
    }
  }
}

/** The data lines of a Server-Sent Events stream, one event at a time. */
async function* sse(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, '\n');
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (data) yield data;
    }
  }
}

interface V2Metadata { name: string; versions?: string[]; inputs: TensorSpec[]; outputs: TensorSpec[] }
interface V2Output { name: string; datatype: string; shape: number[]; data: number[] }

const typed: Record<string, { new (buffer: ArrayBuffer): ArrayLike<number | bigint> & { buffer: ArrayBuffer }; BYTES_PER_ELEMENT: number }> = {
  FP32: Float32Array, FP64: Float64Array, INT8: Int8Array, INT16: Int16Array, INT32: Int32Array, INT64: BigInt64Array,
  UINT8: Uint8Array, UINT16: Uint16Array, UINT32: Uint32Array, UINT64: BigUint64Array, BOOL: Uint8Array,
};

async function onnx({ me, query }: PageContext, root: HTMLElement): Promise<void> {
  const modelName = h('input', { type: 'text', list: 'onnx-models', required: true, value: query.get('model') ?? '', placeholder: 'model, model:alias' });
  const datalist = h('datalist', { id: 'onnx-models' });
  const status = statusLine();
  const formArea = h('div');
  const result = h('div', { 'aria-live': 'polite' });
  if (can(me, 'models:read')) {
    try {
      const list = await api<{ models: Model[] }>('/api/v1/models?format=onnx&limit=1000');
      for (const m of list.models) datalist.appendChild(h('option', { value: m.name }));
    } catch { /* the list is a convenience only */ }
  }

  async function loadSignature(): Promise<void> {
    const name = modelName.value.trim();
    if (!name) return;
    try {
      const meta = await api<V2Metadata>(`/v2/models/${seg(name)}`);
      // The version the signature above is of (a deployed model's primary version) and, when the model is deployed,
      // how its calls are split: a run may be answered by another version than the one described.
      let metadata: Record<string, unknown> | undefined;
      let labels: OutputLabels = {};
      let deployment: ResolvedDeployment | null = null;
      let described: number | undefined;
      if (can(me, 'models:read')) {
        try {
          const resolved = await api<{ version?: { version?: number; metadata?: Record<string, unknown>; output_labels?: OutputLabels }; deployment?: ResolvedDeployment | null }>(`/api/v1/resolve?ref=${seg(name)}`);
          metadata = resolved.version?.metadata;
          labels = resolved.version?.output_labels ?? {};
          described = resolved.version?.version;
          deployment = resolved.deployment && Array.isArray(resolved.deployment.versions) ? resolved.deployment : null;
        } catch { metadata = undefined; }
      }
      const tabular = tabularModelInfo(metadata);
      replace(formArea, deployment ? deploymentNote(name, deployment) : null, tabular ? tabularForm(name, tabular) : inferForm(name, meta, metadata, labels));
      status.ok(`${meta.name}: ${meta.inputs.length} input(s), ${meta.outputs.length} output(s)${deployment && described ? ` (the signature of version ${described}, the deployment's primary)` : ''}.`);
    } catch (e) {
      // The previous model's form and result go: a Run under the refused name would call that other model.
      replace(formArea);
      status.error(e as Error);
    }
  }

  function inferForm(name: string, meta: V2Metadata, metadata: Record<string, unknown> | undefined, labels: OutputLabels): HTMLElement {
    const fromMeta = presetFromMetadata(metadata);
    const trained = imageModelInfo(metadata);
    const allPresets: ImagePreset[] = [...(trained ? [unitPreset] : []), ...(fromMeta ? [fromMeta] : []), ...presets];
    const inputs = meta.inputs.map((spec) => {
      const layout = imageLayout(spec.shape);
      const json = h('textarea', { rows: 3, placeholder: `JSON: nested arrays or a flat list of ${spec.shape.map((d) => (d < 0 ? '?' : d)).join('×')} values` });
      const file = h('input', { type: 'file', accept: layout ? 'image/*,.json,.bin' : '.json,.bin' });
      const preset = h('select', null, allPresets.map((p) => h('option', { value: p.id }, p.label)));
      return { spec, layout, json, file, preset };
    });
    const canvas = h('canvas', { class: 'result-image', role: 'img', 'aria-label': 'The picture with what the model found' });
    canvas.hidden = true;
    const run = h('button', { type: 'submit', class: 'primary' }, 'Run');
    const form = h('form', { class: 'card' },
      h('h2', null, `Inputs of ${meta.name}`),
      inputs.map(({ spec, layout, json, file, preset }) => h('fieldset', null,
        h('legend', null, `${spec.name} · ${spec.datatype} [${spec.shape.join(', ')}]`),
        field(`${spec.name} as JSON`, json),
        field(layout ? `${spec.name} from a file (an image, JSON, or raw little-endian ${spec.datatype})` : `${spec.name} from a file (JSON, or raw little-endian ${spec.datatype})`, file),
        layout ? field(`Image preset for ${spec.name}`, preset) : null)),
      run);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      run.disabled = true;
      try {
        const request: { inputs: Record<string, unknown>[] } = { inputs: [] };
        const binaries: ArrayBuffer[] = [];
        let picture: ImageBitmap | null = null;
        for (const { spec, layout, json, file, preset } of inputs) {
          const chosen = file.files?.[0];
          if (chosen && layout && chosen.type.startsWith('image/')) {
            picture = await createImageBitmap(chosen);
            const p = allPresets.find((x) => x.id === preset.value)!;
            const tensor = toTensor(picture, layout, p);
            request.inputs.push({ name: spec.name, datatype: 'FP32', shape: tensor.shape, parameters: { binary_data_size: tensor.data.byteLength } });
            binaries.push(tensor.data.buffer as ArrayBuffer);
          } else if (chosen && !chosen.name.endsWith('.json')) {
            const buffer = await chosen.arrayBuffer();
            const kind = typed[spec.datatype];
            if (!kind) throw new Error(`${spec.name}: a raw file needs a numeric datatype, not ${spec.datatype}`);
            const count = buffer.byteLength / kind.BYTES_PER_ELEMENT;
            request.inputs.push({ name: spec.name, datatype: spec.datatype, shape: concreteShape(spec.shape, count), parameters: { binary_data_size: buffer.byteLength } });
            binaries.push(buffer);
          } else {
            const text = chosen ? await chosen.text() : json.value;
            if (!text.trim()) throw new Error(`${spec.name}: give a value (JSON) or a file`);
            const value = JSON.parse(text) as unknown;
            const flat = [value].flat(Infinity as 1) as unknown[];
            request.inputs.push({ name: spec.name, datatype: spec.datatype, shape: shapeOf(value, spec.shape, flat.length), data: flat });
          }
        }
        const started = performance.now();
        const header = new TextEncoder().encode(JSON.stringify(request));
        const headers = authHeaders({ 'Content-Type': binaries.length ? 'application/octet-stream' : 'application/json' });
        if (binaries.length) headers['Inference-Header-Content-Length'] = String(header.byteLength);
        const res = await fetch(`/v2/models/${seg(name)}/infer`, { method: 'POST', headers, body: new Blob([header, ...binaries]) });
        if (!res.ok) throw await toError(res);
        const answer = await res.json() as { model_version?: string; outputs: V2Output[] };
        const ms = performance.now() - started;
        showResult(answer.outputs, picture, canvas, trained, labels);
        status.ok(`Ran ${name} (version ${answer.model_version ?? '?'}) in ${ms.toFixed(0)} ms.`);
      } catch (err) { status.error(err as Error); } finally { run.disabled = false; }
    });
    return h('div', null, form, canvas, result);
  }

  function showResult(outputs: V2Output[], picture: ImageBitmap | null, canvas: HTMLCanvasElement, trained: ImageModelInfo | null, labels: OutputLabels): void {
    const scores = outputs.find((o) => o.shape.length === 3 && o.shape[2] === 2);
    const boxes = outputs.find((o) => o.shape.length === 3 && o.shape[2] === 4);
    // The classes to show: a classifier MaaS trained answers its probabilities output; any other picture model with
    // one output of several values is read as class scores.
    const classes = trained ? outputs.find((o) => o.name === trained.probabilities_output)
      : outputs.length === 1 && outputs[0]!.data.length > 1 && outputs[0]!.data.length <= 100000 ? outputs[0] : undefined;
    let summary = '';
    if (picture && scores && boxes) {
      const found = detections(scores.data, boxes.data);
      drawResult(canvas, picture, found);
      canvas.setAttribute('aria-label', `The picture with ${found.length} detection box(es)`);
      canvas.dataset['boxes'] = String(found.length);
      summary = `${found.length} detection(s) with score above 0.7.`;
    } else if (picture && classes) {
      // Class names as serving resolves them (the version's output_labels: serving configuration, then metadata,
      // then the file's labels); indices where the output has none.
      const names = labels[classes.name];
      const top = topClasses(classes.data, Math.min(5, classes.data.length));
      const name = (i: number): string => names?.[i] ?? (names ? `class ${i}` : String(i));
      drawResult(canvas, picture, [], `${names ? '' : 'class '}${name(top[0]!.index)} (${(100 * top[0]!.p).toFixed(1)}%)`);
      canvas.setAttribute('aria-label', `The picture, classified as ${names ? '' : 'class '}${name(top[0]!.index)}`);
      canvas.dataset['class'] = name(top[0]!.index);
      summary = `Top classes: ${top.map((t) => `${name(t.index)} ${(100 * t.p).toFixed(1)}%`).join(', ')}.`;
    }
    canvas.hidden = !picture;
    replace(result,
      summary ? h('p', { class: 'status ok', id: 'vision-summary' }, summary) : null,
      h('h2', null, 'Outputs'),
      outputs.map((o) => h('details', { class: 'card', open: outputs.length === 1 },
        h('summary', null, `${o.name} · ${o.datatype} [${o.shape.join(', ')}]`),
        h('pre', { tabindex: 0 }, JSON.stringify(o.data.slice(0, 200)) + (o.data.length > 200 ? ` … (${o.data.length} values)` : '')))));
  }

  const pick = h('form', { class: 'row', onsubmit: (e: Event) => { e.preventDefault(); void loadSignature(); } },
    field('ONNX model', modelName, can(me, 'models:read') ? undefined : cannotList('models', ['models:read'], "type the model's name")), datalist, h('button', { type: 'submit' }, 'Load signature'));
  replace(root, pick, status, formArea);
  if (modelName.value) await loadSignature();
}

/** The shape of nested JSON, or the signature's shape with one open dimension filled from the element count. */
function shapeOf(value: unknown, declared: number[], count: number): number[] {
  if (Array.isArray(value) && Array.isArray(value[0])) {
    const shape: number[] = [];
    let v: unknown = value;
    while (Array.isArray(v)) { shape.push(v.length); v = v[0]; }
    return shape;
  }
  return concreteShape(declared, count);
}

function concreteShape(declared: number[], count: number): number[] {
  const known = declared.filter((d) => d > 0).reduce((a, d) => a * d, 1);
  const open = declared.filter((d) => d <= 0).length;
  if (open === 0) return declared;
  let filled = false;
  return declared.map((d) => {
    if (d > 0) return d;
    if (!filled) { filled = true; return Math.max(1, Math.round(count / known)); }
    return 1;
  });
}
