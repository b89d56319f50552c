#!/usr/bin/env node
// The `saliency` command. The TypeScript is compiled by `npm ci` (the `prepare` script) into dist/.
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
