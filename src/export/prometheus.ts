import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Metric, Registry } from 'prom-client';
import { Family } from './model';
import { flatten } from './series';

/**
 * One family as prom-client's registry reads it. The registry formats the text
 * exposition; the values come from the model built once per scrape, so every
 * family of one scrape describes the same moment.
 */
class FamilyCollector {
  current?: Family;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: Family['type'],
  ) {}

  readonly aggregator = 'sum';

  async get(): Promise<object> {
    const f = this.current;
    const values = f ? flatten([f]).map((s) => ({ metricName: s.name, labels: s.labels, value: s.value })) : [];
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** The scrape endpoint: GET /metrics, on the address asked for and nothing else. */
export class ScrapeEndpoint {
  readonly registry = new Registry();
  private readonly collectors = new Map<string, FamilyCollector>();
  private server?: http.Server;

  constructor(private readonly collect: () => Family[]) {
    // The agent's own process: memory, CPU, event-loop lag (standard process_*/nodejs_* names).
    collectDefaultMetrics({ register: this.registry });
  }

  /** The exposition text of the current state. */
  async render(): Promise<string> {
    const families = this.collect();
    for (const c of this.collectors.values()) c.current = undefined;
    for (const f of families) {
      let c = this.collectors.get(f.name);
      if (!c) {
        c = new FamilyCollector(f.name, f.help, f.type);
        this.collectors.set(f.name, c);
        this.registry.registerMetric(c as unknown as Metric);
      }
      c.current = f;
    }
    return this.registry.metrics();
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    const server = http.createServer((req, res) => this.handle(req, res));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve(server.address() as AddressInfo);
      });
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (url === '/') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end('iommutrace exporter: metrics at /metrics\n');
      return;
    }
    if (url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    this.render().then(
      (text) => res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (err: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${err.message}\n`),
    );
  }

  close(): Promise<void> {
    const s = this.server;
    if (!s) return Promise.resolve();
    s.closeAllConnections();
    return new Promise((resolve) => s.close(() => resolve()));
  }
}
