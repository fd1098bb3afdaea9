/** @module Prometheus metrics for /metrics/prometheus (admin only): requests, in-flight, back-channel logout, pool, process. */

const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Series {
  count: number;
  sum: number;
  buckets: number[];
}

export interface Metrics {
  requestStarted(): void;
  requestFinished(listener: string, method: string, route: string, status: number, seconds: number): void;
  /** One back-channel logout delivery ended (flows/back-channel.ts). */
  backchannelLogout(result: "ok" | "error"): void;
  render(extra: { poolMax: number; dbKind: string; poolByState?: Record<string, number> }): string;
}

const escape = (s: string) => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

export function createMetrics(): Metrics {
  const series = new Map<string, Series & { labels: string }>();
  // listener → route → method → status: per request only lookups; the label text is escaped once per series.
  const index = new Map<string, Map<string, Map<string, Map<number, Series>>>>();
  const child = <K, V>(map: Map<K, V>, key: K, make: () => V): V => {
    let v = map.get(key);
    if (v === undefined) map.set(key, (v = make()));
    return v;
  };
  let inFlight = 0;
  const backchannel = { ok: 0, error: 0 };
  const startedAt = Date.now() / 1000;
  return {
    requestStarted() {
      inFlight++;
    },
    requestFinished(listener, method, route, status, seconds) {
      inFlight--;
      const byStatus = child(child(child(index, listener, () => new Map()), route, () => new Map()), method, () => new Map());
      let s = byStatus.get(status);
      if (!s) {
        const labels = `listener="${escape(listener)}",method="${escape(method)}",route="${escape(route)}",status="${status}"`;
        s = child(series, labels, () => ({ labels, count: 0, sum: 0, buckets: buckets.map(() => 0) }));
        byStatus.set(status, s);
      }
      s.count++;
      s.sum += seconds;
      for (let i = 0; i < buckets.length; i++) if (seconds <= buckets[i]!) s.buckets[i]!++;
    },
    backchannelLogout(result) {
      backchannel[result]++;
    },
    render({ poolMax, dbKind, poolByState }) {
      const out: string[] = [];
      out.push("# HELP gatehouse_http_requests_total HTTP requests answered, by listener, method, route template and status.");
      out.push("# TYPE gatehouse_http_requests_total counter");
      for (const s of series.values()) out.push(`gatehouse_http_requests_total{${s.labels}} ${s.count}`);
      out.push("# HELP gatehouse_http_request_duration_seconds Time to answer an HTTP request.");
      out.push("# TYPE gatehouse_http_request_duration_seconds histogram");
      for (const s of series.values()) {
        buckets.forEach((le, i) => out.push(`gatehouse_http_request_duration_seconds_bucket{${s.labels},le="${le}"} ${s.buckets[i]}`));
        out.push(`gatehouse_http_request_duration_seconds_bucket{${s.labels},le="+Inf"} ${s.count}`);
        out.push(`gatehouse_http_request_duration_seconds_sum{${s.labels}} ${s.sum}`);
        out.push(`gatehouse_http_request_duration_seconds_count{${s.labels}} ${s.count}`);
      }
      out.push("# HELP gatehouse_http_requests_in_flight HTTP requests being answered now.");
      out.push("# TYPE gatehouse_http_requests_in_flight gauge");
      out.push(`gatehouse_http_requests_in_flight ${inFlight}`);
      out.push("# HELP gatehouse_backchannel_logout_total Back-channel logout deliveries to clients, by result (ok: 2xx; error: other status, timeout, refused).");
      out.push("# TYPE gatehouse_backchannel_logout_total counter");
      out.push(`gatehouse_backchannel_logout_total{result="ok"} ${backchannel.ok}`);
      out.push(`gatehouse_backchannel_logout_total{result="error"} ${backchannel.error}`);
      out.push("# HELP gatehouse_db_pool_max_connections Most database connections the pool opens.");
      out.push("# TYPE gatehouse_db_pool_max_connections gauge");
      out.push(`gatehouse_db_pool_max_connections{kind="${dbKind}"} ${poolMax}`);
      if (poolByState) {
        out.push("# HELP gatehouse_db_pool_connections Open database connections of this process, by state (as pg_stat_activity reports them).");
        out.push("# TYPE gatehouse_db_pool_connections gauge");
        for (const [state, n] of Object.entries(poolByState)) out.push(`gatehouse_db_pool_connections{kind="${dbKind}",state="${escape(state)}"} ${n}`);
      }
      const mem = process.memoryUsage();
      const cpu = process.cpuUsage();
      out.push("# HELP process_resident_memory_bytes Resident memory size in bytes.");
      out.push("# TYPE process_resident_memory_bytes gauge");
      out.push(`process_resident_memory_bytes ${mem.rss}`);
      out.push("# HELP process_heap_bytes JavaScript heap in use, in bytes.");
      out.push("# TYPE process_heap_bytes gauge");
      out.push(`process_heap_bytes ${mem.heapUsed}`);
      out.push("# HELP process_cpu_seconds_total User and system CPU time spent, in seconds.");
      out.push("# TYPE process_cpu_seconds_total counter");
      out.push(`process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`);
      out.push("# HELP process_start_time_seconds Start time of the process since the Unix epoch, in seconds.");
      out.push("# TYPE process_start_time_seconds gauge");
      out.push(`process_start_time_seconds ${startedAt}`);
      return `${out.join("\n")}\n`;
    },
  };
}
