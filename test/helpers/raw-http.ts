// HTTP requests exactly as written: node:http sends the path byte for byte (fetch would resolve
// dot segments and normalise percent-encoding before the server ever saw them), and a body may
// be cut short of its Content-Length.
import { request } from 'node:http';
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json?: { error?: { code?: string; message?: string } } & Record<string, unknown>;
}

function parse(status: number, headers: RawResponse['headers'], body: string): RawResponse {
  let json: RawResponse['json'];
  try {
    json = body ? (JSON.parse(body) as RawResponse['json']) : undefined;
  } catch {
    json = undefined;
  }
  return { status, headers, body, ...(json ? { json } : {}) };
}

/** One request with `path` sent verbatim. */
export function rawRequest(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: { ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(parse(res.statusCode ?? 0, res.headers, Buffer.concat(chunks).toString('utf8'))));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Writes the head and `body` (latin1: one byte per character) on a socket, then half-closes it. */
export function socketRequest(base: string, head: string, body: string): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.end(Buffer.from(`${head}\r\n\r\n${body}`, 'latin1')));
    let data = '';
    socket.on('data', (d: Buffer) => (data += d.toString('utf8')));
    socket.on('error', reject);
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
  });
}
