// A least-recently-used bound on what a worker's sessions and models hold. Each entry is charged
// bytes when it is admitted (a model: its weights, held once; a session: what it owns beside the
// shared weights plus the activation memory its runs may use), and admitting one past the limit
// evicts the least recently used idle entries first. An evicted session is rebuilt on its next
// run; an evicted model is closed and reopened by its owner on its next job.
//
// The pool is per thread: a worker thread (or process) runs one job at a time, so the only
// eviction that can happen during a job is the one its own next session triggers, and the entries
// that job is using (its model, a session mid-run) are never evictable.

export interface PoolEntry {
  /** Shown in logs: `model:<id>` or `<model>/<graph key>`. */
  readonly label: string;
  /** Bytes charged while the entry is resident. */
  bytes: number;
  /** True while the entry must stay (a run in flight, the model of the session being admitted). */
  busy(): boolean;
  /** Frees the entry's memory; called by the pool only. */
  evict(): Promise<void>;
}

export interface PoolEvent {
  label: string;
  bytes: number;
}

export class SessionPool {
  private readonly resident = new Map<PoolEntry, number>();
  private clock = 0;

  /** `limitBytes` 0: no limit (entries are tracked, never evicted). */
  constructor(
    readonly limitBytes: number,
    private readonly onEvict: (event: PoolEvent) => void = () => {},
  ) {}

  get usedBytes(): number {
    let total = 0;
    for (const entry of this.resident.keys()) total += entry.bytes;
    return total;
  }

  has(entry: PoolEntry): boolean {
    return this.resident.has(entry);
  }

  /** Labels of resident entries, least recently used first (tests, logs). */
  labels(): string[] {
    return [...this.resident.entries()].sort((a, b) => a[1] - b[1]).map(([e]) => e.label);
  }

  /** Marks an entry used now. */
  touch(entry: PoolEntry): void {
    if (this.resident.has(entry)) this.resident.set(entry, ++this.clock);
  }

  /**
   * Makes room for `entry` (evicting idle entries, least recently used first, other than those in
   * `keep`) and records it. An entry larger than the limit on its own is still admitted: refusing
   * it would refuse the model, and the limit then says how much else may stay.
   */
  async admit(entry: PoolEntry, keep: readonly PoolEntry[] = []): Promise<void> {
    this.resident.set(entry, ++this.clock);
    await this.fit([entry, ...keep]);
  }

  /** Re-checks the limit after an entry's charge grew. */
  async fit(keep: readonly PoolEntry[] = []): Promise<void> {
    if (this.limitBytes <= 0) return;
    const protectedEntries = new Set(keep);
    while (this.usedBytes > this.limitBytes) {
      const victim = [...this.resident.entries()].filter(([e]) => !protectedEntries.has(e) && !e.busy()).sort((a, b) => a[1] - b[1])[0]?.[0];
      if (!victim) return;
      this.resident.delete(victim);
      this.onEvict({ label: victim.label, bytes: victim.bytes });
      await victim.evict();
    }
  }

  /** Forgets an entry its owner released. */
  remove(entry: PoolEntry): void {
    this.resident.delete(entry);
  }
}
