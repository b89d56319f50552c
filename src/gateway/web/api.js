// @ts-check
// A small client of the public HTTP API (see /docs): everything the page does goes through here,
// so it doubles as an example of how to use the API from a browser.

/** An error as the API reports it: {error: {code, message}}. */
export class ApiError extends Error {
  constructor(code, message, status = 0) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
  }
}

const KEY_STORAGE = 'saliency-api-key';
let apiKey = sessionStorage.getItem(KEY_STORAGE) ?? '';

/** Only needed when the server runs with API_KEYS; kept for this browser tab only. */
export function setApiKey(key) {
  apiKey = key.trim();
  if (apiKey) sessionStorage.setItem(KEY_STORAGE, apiKey);
  else sessionStorage.removeItem(KEY_STORAGE);
}
export const getApiKey = () => apiKey;

/** fetch with the API key; any non-2xx answer becomes an ApiError carrying the API's code. */
export async function request(url, init = {}) {
  const headers = new Headers(init.headers);
  if (apiKey) headers.set('authorization', `Bearer ${apiKey}`);
  let response;
  try {
    response = await fetch(url, { ...init, headers });
  } catch (err) {
    if (err instanceof Error && err.name === 'AbortError') throw err;
    throw new ApiError('NETWORK', `the server could not be reached (${err instanceof Error ? err.message : String(err)}); is it running?`);
  }
  if (response.ok) return response;
  let body;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const error = body?.error;
  throw new ApiError(error?.code ?? `HTTP_${response.status}`, error?.message ?? response.statusText, response.status);
}

export const getJson = async (url, init) => (await request(url, init)).json();

export const listModels = async () => (await getJson('/v1/models')).models;
export const getModel = (id) => getJson(`/v1/models/${encodeURIComponent(id)}`);
/** {methods: [{name, kind, description, parameters, defaults}], parameters: JSON schema, render} */
export const listMethods = () => getJson('/v1/methods');

/**
 * POST /v1/explanations as multipart/form-data: the image file plus fields (model, method,
 * target and the method's parameters). Answers 202 with the queued explanation.
 */
export async function submitExplanation(file, fields, signal) {
  const body = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (value !== undefined && value !== null && value !== '') body.append(name, String(value));
  }
  body.append('image', file, file.name || 'image');
  const { explanations } = await getJson('/v1/explanations', { method: 'POST', body, signal });
  return explanations[0];
}

/** DELETE /v1/explanations/:id: cancels a queued or running job (and deletes it). */
export async function cancelExplanation(id) {
  await request(`/v1/explanations/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

const FINAL = new Set(['completed', 'failed', 'cancelled']);

/**
 * Server-Sent Events of one job, read with fetch rather than EventSource so the API key can be
 * sent as a header. Yields {event, data}; the server ends the stream after the final event.
 */
async function* readEvents(url, signal) {
  const response = await request(url, { headers: { accept: 'text/event-stream' }, signal });
  if (!response.body) throw new ApiError('NETWORK', 'the event stream has no body');
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length > 0) yield { event, data: JSON.parse(data.join('\n')) };
      }
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}

/**
 * Follows a job to its end: `onProgress({done, total, stage})` for each progress event, then the
 * final explanation (completed, failed or cancelled). Falls back to polling GET if the stream
 * ends early (a proxy that cuts long responses, say).
 */
export async function watchExplanation(explanation, onProgress, signal) {
  if (FINAL.has(explanation.status)) return explanation;
  for await (const { event, data } of readEvents(explanation.links.events, signal)) {
    if (event === 'progress') onProgress(data);
    else if (event === 'status') {
      if (data.progress) onProgress(data.progress);
      if (FINAL.has(data.status)) return data;
      if (data.status === 'running') onProgress({ done: 0, total: 0, stage: 'running' });
    } else if (FINAL.has(event)) return data;
  }
  for (;;) {
    const current = await getJson(explanation.links.self, { signal });
    if (FINAL.has(current.status)) return current;
    if (current.progress) onProgress(current.progress);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Rendering URL of a completed explanation: `kind` is heatmap.png, overlay.png, map.json or attribution.npy. */
export function renderingUrl(explanation, kind, query = {}) {
  const base = explanation.links[{ 'heatmap.png': 'heatmap', 'overlay.png': 'overlay', 'map.json': 'map', 'attribution.npy': 'attribution' }[kind]];
  const params = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== ''));
  const qs = params.toString();
  return qs ? `${base}?${qs}` : base;
}

/** A rendered PNG as a blob plus the scale and clip value the server used (response headers). */
export async function fetchRendering(url, signal) {
  const response = await request(url, { signal });
  const blob = await response.blob();
  const number = (name) => {
    const v = response.headers.get(name);
    return v === null || v === '' ? undefined : Number(v);
  };
  return { blob, scale: number('x-saliency-scale'), clip: number('x-saliency-clip') };
}
