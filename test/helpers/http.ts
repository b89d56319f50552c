// Small HTTP helpers over Node's fetch for the service tests.
import sharp from 'sharp';

export interface Json {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

export async function json(response: Response): Promise<Json> {
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = { raw: text };
  }
  return { status: response.status, headers: response.headers, body };
}

/** A photo-like test image: a bright disc on a darker gradient. */
export async function testImage(width = 96, height = 64, format: 'png' | 'jpeg' | 'webp' = 'png'): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside = (x - width / 2) ** 2 + (y - height / 2) ** 2 < (Math.min(width, height) / 4) ** 2;
      const i = 3 * (y * width + x);
      raw[i] = inside ? 240 : (40 + x) % 256;
      raw[i + 1] = inside ? 200 : (30 + y) % 256;
      raw[i + 2] = inside ? 20 : 90;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .toFormat(format)
    .toBuffer();
}

export function form(fields: Record<string, string>, files: { field: string; bytes: Uint8Array; name: string; type?: string }[] = []): FormData {
  const body = new FormData();
  for (const [k, v] of Object.entries(fields)) body.append(k, v);
  for (const f of files) body.append(f.field, new Blob([f.bytes], { type: f.type ?? 'application/octet-stream' }), f.name);
  return body;
}

export async function submit(
  url: string,
  fields: Record<string, string>,
  files: { field: string; bytes: Uint8Array; name: string; type?: string }[],
  query = '',
  headers: Record<string, string> = {},
): Promise<Json> {
  return json(await fetch(`${url}/v1/explanations${query}`, { method: 'POST', body: form(fields, files), headers }));
}

export interface SseEvent {
  event: string;
  data: unknown;
}

/** Reads a whole event stream (it ends after the final event). */
export async function readEvents(url: string, headers: Record<string, string> = {}): Promise<SseEvent[]> {
  const response = await fetch(url, { headers });
  const text = await response.text();
  return text
    .split('\n\n')
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      return event && data ? { event, data: JSON.parse(data) as unknown } : undefined;
    })
    .filter((e): e is SseEvent => e !== undefined);
}

export async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
