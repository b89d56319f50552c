export async function runBench(_args: string[]): Promise<number> {
  process.stderr.write('bench: not implemented yet\n');
  return 1;
}
