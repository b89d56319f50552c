// Worker-thread entry of the render pool: decodes the original (overlays), projects, colours and
// encodes, one task at a time, so none of those pixel loops runs on the gateway's event loop.
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { decodeImage } from './decode.js';
import { ImageError } from './errors.js';
import { renderHeatmap, renderMap, renderOverlay } from './render.js';
import { type RenderMessage, type RenderReply, type RenderTask } from './render-pool.js';

const port = parentPort;
if (!port) throw new Error('render-worker.js must run in a worker thread');

// Renderings yield the CPU to the gateway's own thread when cores are scarce (/healthz and
// submissions stay prompt while big overlays render). On Linux the nice value is per thread, so
// this lowers only this thread; elsewhere setpriority(0) would reach the whole process: skipped.
if (process.platform === 'linux') {
  try {
    setPriority(10);
  } catch {
    // not permitted here: renderings run at the normal priority
  }
}

/** Renderings in hand; after `close`, the thread exits once the last one is answered. */
let busy = 0;
let closing = false;

port.on('message', (msg: RenderMessage) => {
  if (msg === 'close') {
    closing = true;
    if (busy === 0) port.close();
    return;
  }
  busy++;
  void answer(msg).finally(() => {
    busy--;
    if (closing && busy === 0) port.close();
  });
});

const answer = (task: RenderTask): Promise<void> =>
  run(task).then(
    (reply) => port.postMessage(reply, reply.type === 'png' ? [reply.png.buffer as ArrayBuffer] : []),
    (err: unknown) =>
      port.postMessage({
        type: 'error',
        id: task.id,
        message: err instanceof Error ? err.message : String(err),
        ...(err instanceof ImageError ? { code: err.code } : {}),
      } satisfies RenderReply),
  );

async function run(task: RenderTask): Promise<RenderReply> {
  const limits = { maxPixels: task.maxPixels };
  if (task.kind === 'map') return { type: 'map', id: task.id, map: renderMap(task.source, task.options) };
  let rendered;
  if (task.kind === 'overlay') {
    if (!task.image) throw new Error('an overlay needs the original image');
    const image = await decodeImage(task.image, { limitInputPixels: task.limitInputPixels });
    rendered = await renderOverlay(task.source, image, task.options, limits);
  } else {
    rendered = await renderHeatmap(task.source, task.options, limits);
  }
  // A copy of its own (sharp's Buffer may sit in a shared pool) that can be transferred, not cloned.
  const png = new Uint8Array(rendered.png.buffer, rendered.png.byteOffset, rendered.png.byteLength).slice();
  return { type: 'png', id: task.id, png, width: rendered.width, height: rendered.height, scale: rendered.scale, clipValue: rendered.clipValue };
}
