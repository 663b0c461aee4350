/**
 * The TypeScript client of Sluice (`import { Sluice } from 'sluice/client'`). It runs wherever `fetch`,
 * `AbortController`, `TextEncoder` and `ReadableStream` exist (Node 20+, Deno, Bun, browsers): it imports
 * nothing of the server at run time but the pure partitioner; its types come from the server's zod schemas
 * (client/types.ts, type-only imports).
 */
import { Groups, Keys, Maintenance, type ReadOptions, readPartition, Topics, Webhooks } from './admin.js';
import { Consumer, type ConsumerOptions } from './consumer.js';
import { HttpClient, type SluiceOptions } from './http.js';
import { Producer, type ProducerOptions } from './producer.js';
import { type TailOptions, tail } from './tail.js';
import type { FetchResult, PartitionRecord } from './types.js';

export type { ReadOptions } from './admin.js';
export { Groups, Keys, Maintenance, Topics, Webhooks } from './admin.js';
export type { ConsumerOptions } from './consumer.js';
export { Consumer } from './consumer.js';
export type { ErrorCode, Problem } from './errors.js';
export { SluiceConnectionError, SluiceError } from './errors.js';
export type { RetryOptions, SluiceOptions } from './http.js';
export type { ProducerOptions, SendOptions } from './producer.js';
export { MAX_REQUEST_BYTES, Producer } from './producer.js';
export type { TailOptions } from './tail.js';
export type * from './types.js';

/** A client of one Sluice server: `new Sluice({ url, token })`. */
export class Sluice {
  readonly topics: Topics;
  readonly keys: Keys;
  readonly groups: Groups;
  readonly webhooks: Webhooks;
  readonly maintenance: Maintenance;
  private readonly http: HttpClient;

  constructor(options: SluiceOptions) {
    this.http = new HttpClient(options);
    this.topics = new Topics(this.http);
    this.keys = new Keys(this.http);
    this.groups = new Groups(this.http);
    this.webhooks = new Webhooks(this.http);
    this.maintenance = new Maintenance(this.http);
  }

  /** A batching producer (see Producer). Close it (`await producer.close()`) to flush what is pending. */
  producer(options: ProducerOptions = {}): Producer {
    return new Producer(this.http, options);
  }

  /** A consumer-group member: `for await (const record of consumer)` (see Consumer). */
  consumer(options: ConsumerOptions): Consumer {
    return new Consumer(this.http, options);
  }

  /** A live tail of one partition over SSE, resuming after dropped connections (see tail.ts). */
  tail(
    topic: string,
    partition: number,
    options: TailOptions = {},
  ): AsyncGenerator<PartitionRecord, void, undefined> {
    return tail(this.http, topic, partition, options);
  }

  /** One read of one partition (`GET …/partitions/{p}/records`). */
  read(topic: string, partition: number, options: ReadOptions = {}): Promise<FetchResult> {
    return readPartition(this.http, topic, partition, options);
  }
}
