// A small Prometheus registry (text exposition format 0.0.4): counters, gauges read at scrape
// time, and histograms, with labels. Enough for this service without another dependency.
type Labels = Record<string, string>;

const key = (labels: Labels) => JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
const format = (labels: Labels) => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};

interface Metric {
  render(): Promise<string>;
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    const entry = this.values.get(k) ?? { labels, value: 0 };
    entry.value += by;
    this.values.set(k, entry);
  }
  async render(): Promise<string> {
    const lines = [...this.values.values()].map((e) => `${this.name}${format(e.labels)} ${e.value}`);
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`, ...lines].join('\n');
  }
}

/** A gauge whose values are read when scraped. */
export class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => Promise<{ labels?: Labels; value: number }[]>,
  ) {}
  async render(): Promise<string> {
    let values: { labels?: Labels; value: number }[] = [];
    try {
      values = await this.read();
    } catch {
      values = []; // A backend outage shows as a missing sample, not a failed scrape.
    }
    const lines = values.map((v) => `${this.name}${format(v.labels ?? {})} ${v.value}`);
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, ...lines].join('\n');
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
  ) {}
  observe(labels: Labels, value: number): void {
    const k = key(labels);
    const s = this.series.get(k) ?? { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
    this.buckets.forEach((b, i) => {
      if (value <= b) s.counts[i] = (s.counts[i] as number) + 1;
    });
    s.sum += value;
    s.count += 1;
    this.series.set(k, s);
  }
  async render(): Promise<string> {
    const lines: string[] = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${format({ ...s.labels, le: String(b) })} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${format({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${format(s.labels)} ${s.sum}`, `${this.name}_count${format(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];
  register<M extends Metric>(metric: M): M {
    this.metrics.push(metric);
    return metric;
  }
  async render(): Promise<string> {
    return `${(await Promise.all(this.metrics.map((m) => m.render()))).join('\n')}\n`;
  }
}
