// Server-Sent Events over real HTTP, both runners: ids on every event, Last-Event-ID resume,
// the final event for late subscribers, 204 once the end was seen, heartbeats, CORS headers on the
// stream, and open streams ending when the gateway closes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { json, submit, testImage, waitFor } from '../helpers/http.js';
import { type TestService, startService } from '../helpers/service.js';

interface Block {
  id?: string;
  event?: string;
  data?: unknown;
  comment?: string;
  retry?: string;
}

function parse(block: string): Block {
  const out: Block = {};
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) out.comment = line.slice(1).trim();
    else if (line.startsWith('id: ')) out.id = line.slice(4);
    else if (line.startsWith('event: ')) out.event = line.slice(7);
    else if (line.startsWith('data: ')) out.data = JSON.parse(line.slice(6)) as unknown;
    else if (line.startsWith('retry: ')) out.retry = line.slice(7);
  }
  return out;
}

/** The blocks of an event stream as they arrive; ends with the stream. */
async function* blocks(response: Response): AsyncGenerator<Block> {
  assert.ok(response.body, 'a streamed body');
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        yield parse(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

async function all(response: Response): Promise<Block[]> {
  const list: Block[] = [];
  for await (const b of blocks(response)) list.push(b);
  return list;
}

const events = (list: Block[]) => list.filter((b) => b.event !== undefined);
type Explanation = { id: string; status: string; links: Record<string, string> };
const firstOf = (body: Record<string, unknown>) => (body['explanations'] as Explanation[])[0] as Explanation;

for (const mode of ['embedded', 'redis'] as const) {
  describe(`Server-Sent Events with the ${mode} runner`, () => {
    let service: TestService;
    let url: string;
    let image: Buffer;
    before(async () => {
      service = await startService(mode, {
        SSE_HEARTBEAT_SECONDS: '1',
        WORKER_CONCURRENCY: '1',
        CORS_ORIGINS: 'https://dash.example.test',
        MAX_JOB_POINTS: '1000000',
      });
      url = service.url;
      image = await testImage();
    });
    after(async () => service.close());

    const png = () => [{ field: 'image', bytes: image, name: 'a.png', type: 'image/png' }];

    test('every event has an id: progress ids name the stage and count, the final one the state', async () => {
      const e = firstOf((await submit(url, { method: 'smoothgrad', samples: '40' }, png())).body);
      const response = await fetch(`${url}${e.links['events']}`, { headers: { origin: 'https://dash.example.test' } });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.equal(response.headers.get('access-control-allow-origin'), 'https://dash.example.test', 'hooks’ headers reach the hijacked stream');
      const list = await all(response);
      assert.equal(list[0]?.retry, '2000');
      const seen = events(list);
      assert.ok(seen.length >= 2);
      for (const b of seen) assert.ok(b.id, `event ${b.event} has an id`);
      assert.equal(seen[0]?.event, 'status');
      assert.equal(seen.at(-1)?.event, 'completed');
      assert.equal(seen.at(-1)?.id, 'completed');
      for (const b of seen.filter((x) => x.event === 'progress')) {
        const p = b.data as { done: number; total: number; stage: string };
        assert.equal(b.id, `running:${p.stage}:${p.done}/${p.total}`);
      }
      const ids = seen.map((b) => b.id);
      assert.equal(new Set(ids).size, ids.length, 'no event is sent twice');
    });

    test('a subscriber that connects after the end gets status and the final event; one that saw the end gets 204', async () => {
      const e = firstOf((await submit(url, { method: 'gradient' }, png(), '?wait=30')).body);
      assert.equal(e.status, 'completed');
      const late = events(await all(await fetch(`${url}${e.links['events']}`)));
      assert.deepEqual(
        late.map((b) => [b.event, b.id]),
        [
          ['status', 'completed'],
          ['completed', 'completed'],
        ],
      );
      assert.equal((late[1]?.data as Explanation).status, 'completed');
      const resumed = await fetch(`${url}${e.links['events']}`, { headers: { 'last-event-id': 'completed' } });
      assert.equal(resumed.status, 204);
      // A stale id still gets the end.
      const stale = events(await all(await fetch(`${url}${e.links['events']}`, { headers: { 'last-event-id': 'running:gradients:1/4' } })));
      assert.deepEqual(
        stale.map((b) => b.event),
        ['status', 'completed'],
      );
    });

    test('Last-Event-ID resumes without repeating what was seen; heartbeats keep an idle stream open', async () => {
      // One worker, busy with a long job (4·10⁴ gradient points, cancelled below): the second job waits in the queue.
      const busy = firstOf((await submit(url, { method: 'smoothgrad', base: 'integrated-gradients', samples: '200', steps: '200' }, png())).body);
      await waitFor(async () => ((await json(await fetch(`${url}${busy.links['self']}`))).body['status'] === 'running' ? true : undefined));
      const waiting = firstOf((await submit(url, { method: 'smoothgrad', samples: '8' }, png())).body);

      const first = await fetch(`${url}${waiting.links['events']}`);
      const stream = blocks(first);
      const status = (await stream.next()).value as Block;
      assert.equal(status.retry, '2000');
      const snapshot = (await stream.next()).value as Block;
      assert.deepEqual([snapshot.event, snapshot.id], ['status', 'queued']);
      await stream.return(undefined);

      const again = await fetch(`${url}${waiting.links['events']}`, { headers: { 'last-event-id': 'queued' } });
      const resumed = blocks(again);
      const received: Block[] = [];
      for await (const b of resumed) {
        received.push(b);
        // Once a heartbeat arrived on the idle stream, let the queue move.
        if (b.comment === 'heartbeat' && received.filter((x) => x.comment).length === 1) {
          assert.equal((await fetch(`${url}${busy.links['self']}`, { method: 'DELETE' })).status, 204);
        }
      }
      const seen = events(received);
      assert.ok(
        received.some((b) => b.comment === 'heartbeat'),
        JSON.stringify(received.map((b) => [b.event, b.id, b.comment, b.retry])),
      );
      assert.notEqual(seen[0]?.event, 'status', 'nothing changed since "queued": no status is repeated');
      assert.ok(!seen.some((b) => b.id === 'queued'));
      assert.equal(seen.at(-1)?.event, 'completed');
      assert.ok(seen.every((b) => b.id));
    });
  });
}

test('open streams end when the gateway closes, so shutdown does not wait on clients', { timeout: 60_000 }, async () => {
  const service = await startService('embedded', { SHUTDOWN_TIMEOUT_MS: '500', MAX_JOB_POINTS: '1000000' });
  const image = await testImage();
  const busy = firstOf(
    (
      await submit(service.url, { method: 'smoothgrad', base: 'integrated-gradients', samples: '200', steps: '200' }, [
        { field: 'image', bytes: image, name: 'a.png' },
      ])
    ).body,
  );
  const stream = blocks(await fetch(`${service.url}${busy.links['events']}`));
  assert.equal((await stream.next()).value?.retry, '2000');
  const drained = (async () => {
    const rest: Block[] = [];
    for await (const b of stream) rest.push(b);
    return rest;
  })();
  await service.close();
  const rest = await drained;
  assert.ok(!rest.some((b) => b.event === 'completed'), 'the stream ended before the job');
});
