/**
 * Service metrics in the Prometheus text format: requests by route and status, latency
 * histograms, budget outcomes, queue depth and tokens merged.
 * @module
 */

/** Upper bounds (ms) of the deadline slack histogram: budget minus answer time. */
const SLACK_BUCKETS = [-50, -20, -10, -5, 0, 5, 10, 20, 50, 100, 200];

/** Upper bounds (seconds) of the latency histogram buckets. */
const BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

const labels = (l: Record<string, string>) =>
  `{${Object.entries(l).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, "_")}"`).join(",")}}`;

/** Counters and histograms of one server. */
export class Metrics {
  #requests = new Map<string, number>();
  #latency = new Map<string, Histogram>();
  #budget = { met: 0, missed: 0 };
  #slack: Histogram = { counts: SLACK_BUCKETS.map(() => 0), sum: 0, count: 0 };
  #replans = { jobs: 0, changed: 0, merges: 0 };
  #tokensMerged = 0;
  #replacements = 0;

  /** A finished HTTP request. */
  request(route: string, status: number, seconds: number): void {
    const key = labels({ route, status: String(status) });
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    let h = this.#latency.get(route);
    if (!h) this.#latency.set(route, h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 });
    BUCKETS.forEach((b, i) => seconds <= b && h.counts[i]++);
    h.sum += seconds;
    h.count++;
  }

  /** A request with a budget was answered with `slackMs` to spare (negative: late). */
  budget(slackMs: number): void {
    this.#budget[slackMs >= 0 ? "met" : "missed"]++;
    SLACK_BUCKETS.forEach((b, i) => slackMs <= b && this.#slack.counts[i]++);
    this.#slack.sum += slackMs;
    this.#slack.count++;
  }

  /** A job ran with `changed` re-plans that added `merges` merges in all (negative: removed). */
  replans(changed: number, merges: number): void {
    this.#replans.jobs++;
    if (changed > 0) this.#replans.changed++;
    this.#replans.merges += Math.abs(merges);
  }

  /** Tokens one image lost to merging (tokens in minus tokens out). */
  tokensMerged(n: number): void {
    this.#tokensMerged += n;
  }

  /** A worker was replaced. */
  workerReplaced(): void {
    this.#replacements++;
  }

  /** The exposition text; gauges are read from `gauges` at scrape time. */
  render(gauges: { queueDepth: number; running: number; ready: boolean }): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string) =>
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    family("edgemerge_requests_total", "counter", "HTTP requests by route and status.");
    for (const [l, n] of this.#requests) out.push(`edgemerge_requests_total${l} ${n}`);
    family("edgemerge_request_duration_seconds", "histogram", "HTTP request latency by route.");
    for (const [route, h] of this.#latency) {
      const name = "edgemerge_request_duration_seconds";
      BUCKETS.forEach((b, i) =>
        out.push(`${name}_bucket${labels({ route, le: String(b) })} ${h.counts[i]}`)
      );
      out.push(`${name}_bucket${labels({ route, le: "+Inf" })} ${h.count}`);
      out.push(
        `${name}_sum${labels({ route })} ${h.sum}`,
        `${name}_count${labels({ route })} ${h.count}`,
      );
    }
    family("edgemerge_budget_requests_total", "counter", "Requests with a budget, by outcome.");
    out.push(`edgemerge_budget_requests_total{met="true"} ${this.#budget.met}`);
    out.push(`edgemerge_budget_requests_total{met="false"} ${this.#budget.missed}`);
    const total = this.#budget.met + this.#budget.missed;
    family("edgemerge_budget_met_ratio", "gauge", "Share of budgeted requests inside budget.");
    out.push(`edgemerge_budget_met_ratio ${total ? this.#budget.met / total : 1}`);
    family(
      "edgemerge_deadline_slack_ms",
      "histogram",
      "Budget minus answer time of budgeted requests (negative: late).",
    );
    SLACK_BUCKETS.forEach((b, i) =>
      out.push(`edgemerge_deadline_slack_ms_bucket{le="${b}"} ${this.#slack.counts[i]}`)
    );
    out.push(`edgemerge_deadline_slack_ms_bucket{le="+Inf"} ${this.#slack.count}`);
    out.push(`edgemerge_deadline_slack_ms_sum ${this.#slack.sum}`);
    out.push(`edgemerge_deadline_slack_ms_count ${this.#slack.count}`);
    family("edgemerge_replanned_jobs_total", "counter", "Jobs whose schedule a re-plan changed.");
    out.push(`edgemerge_replanned_jobs_total ${this.#replans.changed}`);
    family("edgemerge_replan_ratio", "gauge", "Share of jobs whose schedule changed in flight.");
    out.push(
      `edgemerge_replan_ratio ${
        this.#replans.jobs ? this.#replans.changed / this.#replans.jobs : 0
      }`,
    );
    family(
      "edgemerge_replanned_merges_total",
      "counter",
      "Merges added or removed by in-flight re-plans (absolute, summed).",
    );
    out.push(`edgemerge_replanned_merges_total ${this.#replans.merges}`);
    family("edgemerge_queue_depth", "gauge", "Jobs waiting for a worker.");
    out.push(`edgemerge_queue_depth ${gauges.queueDepth}`);
    family("edgemerge_jobs_running", "gauge", "Jobs running on workers.");
    out.push(`edgemerge_jobs_running ${gauges.running}`);
    family("edgemerge_tokens_merged_total", "counter", "Tokens removed by merging, summed.");
    out.push(`edgemerge_tokens_merged_total ${this.#tokensMerged}`);
    family("edgemerge_worker_replacements_total", "counter", "Crashed or hung workers replaced.");
    out.push(`edgemerge_worker_replacements_total ${this.#replacements}`);
    family("edgemerge_ready", "gauge", "1 when the model is loaded and calibrated.");
    out.push(`edgemerge_ready ${gauges.ready ? 1 : 0}`);
    return out.join("\n") + "\n";
  }
}
