// No Docker engine runs in CI: this keeps docker/ and docker-compose.yml honest without one. The
// compose file is validated against the Compose Specification's JSON schema (vendored under
// test/fixtures/compose-spec), and images, compose and configuration are checked against each
// other: every command and environment variable is one the code accepts, bases are pinned, the
// images run as an unprivileged user, and workers have a health check that can pass.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { ConfigSchema } from '../../src/config/config.js';
import { FIXTURES, ROOT } from '../helpers/paths.js';

interface Service {
  build?: { context: string; dockerfile: string };
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  profiles?: string[];
  volumes?: (string | { type: string; source: string; target: string; read_only?: boolean })[];
  healthcheck?: { test: string[] };
  ports?: unknown;
}

const composeText = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
const compose = parse(composeText, { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const CONFIG_KEYS = new Set(Object.keys(ConfigSchema.properties));
const CLI_COMMANDS = new Set(['serve', 'worker']);
/** Variables read by Node or npm themselves, not by our configuration. */
const PLATFORM_ENV = new Set(['NODE_ENV']);
const DOCKERFILES = ['docker/Dockerfile', 'docker/Dockerfile.cuda'] as const;
const ours = Object.entries(compose.services).filter(([, s]) => s.image?.startsWith('saliency-server') || s.build);

/** The schema names its draft-07 meta-schema by an https URL Ajv does not know; Ajv's default is draft-07. */
function composeSchema(): object {
  const { $schema: _metaSchema, ...schema } = JSON.parse(readFileSync(join(FIXTURES, 'compose-spec', 'compose-spec.json'), 'utf8')) as Record<string, unknown>;
  return schema;
}

test('docker-compose.yml is valid under the Compose Specification schema', () => {
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  const validate = ajv.compile(composeSchema());
  const raw = parse(composeText) as unknown; // as docker compose reads it: anchors, no merge keys
  assert.ok(validate(raw), ajv.errorsText(validate.errors, { separator: '\n' }));
});

test('the schema check catches a broken compose file', () => {
  const validate = new Ajv({ strict: false, validateFormats: false }).compile(composeSchema());
  assert.equal(validate({ services: { gateway: { image: 'x', restart: 'sometimes', helthcheck: {} } } }), false);
});

test('compose has Redis with persistence and noeviction, a gateway, scalable workers and a GPU profile', () => {
  const { redis, gateway, worker } = compose.services;
  assert.ok(redis && gateway && worker);
  const command = redis.command ?? [];
  assert.ok(command.includes('--appendonly') && command.includes('yes'));
  assert.ok(command.includes('noeviction'));
  const gpu = Object.values(compose.services).find((s) => s.profiles?.includes('gpu'));
  assert.ok(gpu, 'a service in the gpu profile');
  assert.equal(gpu.environment?.['EXECUTION_PROVIDER'], 'cuda');
  assert.equal(worker.ports, undefined, 'workers publish no ports, so they scale');
  for (const [name, service] of Object.entries(compose.services)) {
    if (service.image) assert.match(service.image, /^saliency-server:|@sha256:[0-9a-f]{64}$/, `${name}: a third-party image is pinned by digest`);
  }
});

for (const [name, service] of ours) {
  test(`compose service ${name}: command, environment, models mount and health check fit the code`, () => {
    const [node, cli, command] = service.command ?? [];
    assert.equal(node, 'node');
    assert.equal(cli, 'bin/saliency.js');
    assert.ok(existsSync(join(ROOT, cli)));
    assert.ok(CLI_COMMANDS.has(command as string), `unknown command ${command}`);
    for (const key of Object.keys(service.environment ?? {})) assert.ok(CONFIG_KEYS.has(key), `${name}: ${key} is not a configuration variable`);
    if (service.build) assert.ok(existsSync(join(ROOT, service.build.context, service.build.dockerfile)));
    else
      assert.ok(
        ours.some(([, s]) => s.build && s.image === service.image),
        `${name}: its image ${service.image} is built by another service`,
      );

    const models = (service.volumes ?? []).find((v) => typeof v === 'object' && v.target === '/app/models');
    assert.ok(models && typeof models === 'object', `${name}: ./models is mounted at the images' MODELS_DIR`);
    assert.equal(models.source, './models');
    assert.equal(models.read_only, true);

    const health = (service.healthcheck?.test ?? []).join(' ');
    if (command === 'worker') assert.equal(health, 'CMD node bin/saliency.js worker --health', `${name}: workers are checked by their heartbeat`);
    else assert.match(health, /\/healthz/);
    if (command === 'worker') assert.ok(Number(service.environment?.['WORKER_METRICS_PORT']) > 0, `${name}: serves its metrics`);
  });
}

for (const file of DOCKERFILES) {
  const text = readFileSync(join(ROOT, file), 'utf8');
  test(`${file}: ENV variables are configuration (or platform) variables, CMD is a saliency command`, () => {
    const envBlocks = [...text.matchAll(/^ENV\s+((?:.*\\\n)*.*)$/gm)].map((m) => m[1] as string);
    const keys = envBlocks.flatMap((block) => [...block.matchAll(/([A-Z_][A-Z0-9_]*)=/g)].map((m) => m[1] as string));
    assert.ok(keys.length > 0);
    for (const key of keys) assert.ok(CONFIG_KEYS.has(key) || PLATFORM_ENV.has(key), `${file}: ${key} is not a configuration variable`);
    const cmd = /^CMD\s+(\[.*\])$/m.exec(text)?.[1];
    assert.ok(cmd);
    const [node, cli, command] = JSON.parse(cmd) as string[];
    assert.deepEqual([node, cli], ['node', 'bin/saliency.js']);
    assert.ok(CLI_COMMANDS.has(command as string));
    for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const source of (m[1] as string).split(/\s+/)) assert.ok(existsSync(join(ROOT, source)), `${file}: COPY ${source} does not exist`);
    }
  });

  test(`${file}: syntax line first, bases pinned by digest, Node 24, dependencies before sources, non-root, linux-x64 binaries only`, () => {
    assert.match(text.split('\n')[0] ?? '', /^# syntax=docker\/dockerfile:1/);
    const args = new Map([...text.matchAll(/^ARG (\w+)=(\S+)$/gm)].map((m) => [m[1] as string, m[2] as string]));
    const stages = new Set([...text.matchAll(/^FROM .* AS (\S+)$/gm)].map((m) => m[1] as string));
    for (const m of text.matchAll(/^FROM (\S+)/gm)) {
      const ref = (m[1] as string).replace(/^\$\{(\w+)\}$/, (_, name: string) => args.get(name) ?? name);
      assert.ok(stages.has(ref) || /@sha256:[0-9a-f]{64}$/.test(ref), `${file}: FROM ${m[1]} is neither a stage nor pinned by digest`);
    }
    assert.match(args.get('NODE_IMAGE') ?? '', /^node:24-/, 'images run the current Node LTS');
    if (file.endsWith('.cuda'))
      assert.match(args.get('CUDA_IMAGE') ?? '', /^nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-/, "onnxruntime-node's cuda12 provider: CUDA 12 + cuDNN 9");
    // Each stage that installs dependencies does so before any source is copied.
    for (const stage of text.split(/^FROM /m).slice(1)) {
      const install = stage.search(/npm ci/);
      const sources = stage.search(/^COPY (src|workers|bin)\b/m);
      if (install >= 0 && sources >= 0) assert.ok(install < sources, `${file}: npm ci runs before the sources are copied`);
    }
    const runtime = text.split(/^FROM /m).at(-1) ?? '';
    const user = /^USER (\S+)$/m.exec(runtime)?.[1];
    assert.ok(user && user !== 'root' && user !== '0', `${file}: the runtime stage runs as an unprivileged user`);
    assert.match(text, /! -path '\*\/linux\/x64' -exec rm -rf/, `${file}: onnxruntime-node's other platforms are removed`);
    assert.doesNotMatch(text, /curl[^\n]*\|\s*(ba)?sh/, `${file}: nothing is piped from the network into a shell`);
  });
}

test('package.json keeps Node 20 working while the images run Node 24', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
  assert.equal(pkg.engines.node, '>=20');
});

test('.npmrc runs no install scripts (onnxruntime-node would download its CUDA provider) with keys npm knows', () => {
  const keys = readFileSync(join(ROOT, '.npmrc'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split('=')[0]?.trim());
  assert.deepEqual(keys, ['ignore-scripts']);
});
