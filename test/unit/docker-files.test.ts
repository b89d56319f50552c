// No Docker engine runs in CI: this keeps docker/ and docker-compose.yml honest by hand-checking
// that they parse, and that every command and environment variable they use is one the code
// accepts.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { ConfigSchema } from '../../src/config/config.js';
import { ROOT } from '../helpers/paths.js';

interface Service {
  build?: { context: string; dockerfile: string };
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  profiles?: string[];
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const CONFIG_KEYS = new Set(Object.keys(ConfigSchema.properties));
const CLI_COMMANDS = new Set(['serve', 'worker']);
/** Variables read by Node or npm themselves, not by our configuration. */
const PLATFORM_ENV = new Set(['NODE_ENV', 'ONNXRUNTIME_NODE_INSTALL']);

test('compose has Redis with persistence and noeviction, a gateway, scalable workers and a GPU profile', () => {
  const { redis, gateway, worker } = compose.services;
  assert.ok(redis && gateway && worker);
  const command = redis.command ?? [];
  assert.ok(command.includes('--appendonly') && command.includes('yes'));
  assert.ok(command.includes('noeviction'));
  const gpu = Object.values(compose.services).find((s) => s.profiles?.includes('gpu'));
  assert.ok(gpu, 'a service in the gpu profile');
  assert.equal(gpu.environment?.['EXECUTION_PROVIDER'], 'cuda');
  assert.equal((worker as { ports?: unknown }).ports, undefined, 'workers publish no ports, so they scale');
});

for (const [name, service] of Object.entries(compose.services)) {
  const build = service.build;
  if (!build) continue;
  test(`compose service ${name}: its command and environment are ones the code accepts`, () => {
    const [node, cli, command] = service.command ?? [];
    assert.equal(node, 'node');
    assert.equal(cli, 'bin/saliency.js');
    assert.ok(existsSync(join(ROOT, cli)));
    assert.ok(CLI_COMMANDS.has(command as string), `unknown command ${command}`);
    for (const key of Object.keys(service.environment ?? {})) assert.ok(CONFIG_KEYS.has(key), `${name}: ${key} is not a configuration variable`);
    assert.ok(existsSync(join(ROOT, build.context, build.dockerfile)));
  });
}

for (const file of ['docker/Dockerfile', 'docker/Dockerfile.cuda']) {
  test(`${file}: ENV variables are configuration (or platform) variables, CMD is a saliency command`, () => {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const envBlocks = [...text.matchAll(/^ENV\s+((?:.*\\\n)*.*)$/gm)].map((m) => m[1] as string);
    const keys = envBlocks.flatMap((block) => [...block.matchAll(/([A-Z_][A-Z0-9_]*)=/g)].map((m) => m[1] as string));
    assert.ok(keys.length > 0);
    for (const key of keys) assert.ok(CONFIG_KEYS.has(key) || PLATFORM_ENV.has(key), `${file}: ${key} is not a configuration variable`);
    const cmd = /^CMD\s+(\[.*\])$/m.exec(text)?.[1];
    assert.ok(cmd);
    const [node, cli, command] = JSON.parse(cmd) as string[];
    assert.deepEqual([node, cli], ['node', 'bin/saliency.js']);
    assert.ok(CLI_COMMANDS.has(command as string));
    // Everything the image copies exists.
    for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const source of (m[1] as string).split(/\s+/)) assert.ok(existsSync(join(ROOT, source)) || source === 'models', `${file}: COPY ${source} does not exist`);
    }
  });
}

test('.npmrc runs no install scripts (onnxruntime-node would download its CUDA provider) with keys npm knows', () => {
  const keys = readFileSync(join(ROOT, '.npmrc'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split('=')[0]?.trim());
  assert.deepEqual(keys, ['ignore-scripts']);
});
