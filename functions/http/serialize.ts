import type { FetchResult } from '../../lib/log/log.js';
import type { FetchedRecord } from '../../lib/types.js';

/**
 * The JSON of a fetch response. A JSON value is stored as the UTF-8 text JSON.stringify produced at produce
 * time and protected by the batch CRC, so it is spliced into the response as is: no JSON.parse and
 * JSON.stringify per record on the read path.
 */
export function serializeFetchResult(result: FetchResult): string {
  const parts: string[] = [];
  for (const record of result.records) parts.push(serializeRecord(record));
  return `{"records":[${parts.join(',')}],"nextOffset":${result.nextOffset},"highWatermark":${result.highWatermark},"logStartOffset":${result.logStartOffset}}`;
}

export function serializeRecord(record: FetchedRecord, extra = ''): string {
  const key = record.key === null ? 'null' : JSON.stringify(record.key.toString('utf8'));
  let value: string;
  if (record.value === null) value = 'null';
  else if (record.format === 'json') value = record.value.toString('utf8');
  else if (record.format === 'text') value = JSON.stringify(record.value.toString('utf8'));
  else value = `"${record.value.toString('base64')}"`;
  return `{${extra}"partition":${record.partition},"offset":${record.offset},"timestamp":${record.timestamp},"key":${key},"value":${value},"format":"${record.format}","headers":${JSON.stringify(record.headers)}}`;
}
