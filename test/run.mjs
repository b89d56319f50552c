// @ts-check
// Runs every compiled test file with Node's built-in runner. Node 20's `--test` does not expand
// globs, so the list is built here; the runner's own summary lines are what CI reads.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function collect(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return collect(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}

const only = process.argv.slice(2);
const files = collect('dist/test')
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
// --test-force-exit: a file whose tests have all finished ends even if a handle it forgot keeps its
// event loop alive, so one leak fails no run by hanging it (the tests themselves still close
// what they open).
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-force-exit', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
