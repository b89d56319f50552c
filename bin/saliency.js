#!/usr/bin/env node
// @ts-check
// The `saliency` command. It runs the TypeScript compiled into dist/. A fresh clone has no dist/
// (`npm ci` runs no lifecycle scripts: .npmrc sets ignore-scripts), so the first run compiles it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry) && existsSync(`${root}tsconfig.json`)) {
  process.stderr.write('saliency: compiling the TypeScript into dist/ (first run)\n');
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const built = spawnSync(process.execPath, [tsc, '-p', `${root}tsconfig.json`], { stdio: ['ignore', 2, 2] });
  if (built.status !== 0) {
    process.stderr.write('saliency: the build failed; run npm run build to see why\n');
    process.exit(1);
  }
}
/** @type {{ main(argv: string[]): Promise<number> }} */
const cli = await import(entry.href);
process.exitCode = await cli.main(process.argv.slice(2));
