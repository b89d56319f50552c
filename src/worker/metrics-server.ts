// A worker process's /metrics on WORKER_METRICS_PORT: Node's process metrics and the job
// attempts this process ran. A plain node:http server; nothing else is served.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { type JobMetrics, createJobMetrics } from '../jobs/job-metrics.js';

export interface WorkerMetrics {
  register: Registry;
  jobs: JobMetrics;
}

export function createWorkerMetrics(): WorkerMetrics {
  const register = new Registry();
  collectDefaultMetrics({ register });
  return { register, jobs: createJobMetrics(register, 'saliency_worker') };
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Serves GET /metrics (Bearer `token` when non-empty) on `port`; resolves with the bound port. */
export async function serveWorkerMetrics(metrics: WorkerMetrics, port: number, token: string, host = '0.0.0.0'): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics is served here\n');
      return;
    }
    if (token !== '' && !timingSafeEqual(digest(request.headers.authorization ?? ''), digest(`Bearer ${token}`))) {
      response.writeHead(401, { 'content-type': 'text/plain' }).end('send Authorization: Bearer <METRICS_TOKEN>\n');
      return;
    }
    metrics.register.metrics().then(
      (text) => response.writeHead(200, { 'content-type': metrics.register.contentType }).end(text),
      () => response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return { server, port: (server.address() as AddressInfo).port };
}
