// The repository explains itself: no tracked file may point at documents outside it or speak of
// the process that produced it instead of the project. Docs live in docs/.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers/paths.js';

// Spelled in pieces so this file does not match itself.
const FORBIDDEN: { pattern: RegExp; why: string }[] = [
  { pattern: new RegExp(['\\.\\.', '/shared'].join('')), why: 'a path outside the repository' },
  { pattern: new RegExp(['/wo', 'rk/'].join('')), why: 'an absolute path of a build machine' },
  { pattern: new RegExp(['iss', 'ue #?[0-9]'].join(''), 'i'), why: 'a tracker reference; say what the code does instead' },
  { pattern: new RegExp(['the br', 'ief'].join(''), 'i'), why: 'a document that is not in the repository' },
];

function trackedFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
  return out.split('\0').filter((f) => f !== '');
}

function trackedTextFiles(): string[] {
  return trackedFiles()
    .filter((f) => f !== 'package-lock.json')
    .filter((f) => !/\.(onnx|npy|png|jpe?g|webp|gif|tiff?|avif|bin)$/i.test(f));
}

test('no tracked file refers to anything outside the repository', () => {
  const files = trackedTextFiles();
  assert.ok(files.length > 100, `git ls-files found ${files.length} files`);
  const hits: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(join(ROOT, file), 'utf8');
    } catch {
      continue; // deleted in the work tree but still tracked
    }
    if (text.includes('\0')) continue; // binary
    text.split('\n').forEach((line, i) => {
      for (const { pattern, why } of FORBIDDEN) if (pattern.test(line)) hits.push(`${file}:${i + 1}: ${why}: ${line.trim().slice(0, 120)}`);
    });
  }
  assert.deepEqual(hits, []);
});

test('every relative link in the Markdown files points at a file of the repository', () => {
  const files = trackedTextFiles().filter((f) => f.endsWith('.md'));
  // Links may point at images too.
  const all = trackedFiles();
  const tracked = new Set(all);
  const broken: string[] = [];
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
      const target = m[1] as string;
      if (/^[a-z]+:/i.test(target)) continue;
      const path = join(file, '..', target).replace(/\\/g, '/');
      if (!tracked.has(path) && !all.some((f) => f.startsWith(`${path}/`))) broken.push(`${file}: ${target}`);
    }
  }
  assert.deepEqual(broken, []);
});
