// Flag parsing and the usage error shared by the subcommands.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

/** parseArgs with string options, raising UsageError for unknown or missing flags. */
export function parseFlags(args: string[], names: readonly string[], required: readonly string[]): Record<string, string | undefined> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options: Object.fromEntries(names.map((n) => [n, { type: 'string' as const }])), strict: true }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  for (const r of required) if (values[r] === undefined) throw new UsageError(`--${r} is required`);
  return values as Record<string, string | undefined>;
}

export function parseShape(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  const dims = text.split(',').map(Number);
  if (dims.some((d) => !Number.isInteger(d) || d <= 0)) throw new UsageError(`--input-shape must be positive integers like 3,224,224, got ${text}`);
  return dims;
}

export function writeOutput(path: string, bytes: Uint8Array): void {
  writeFileSync(path, bytes);
}
