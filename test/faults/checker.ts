import type { FinalState, History, Violation } from './history.js';
export interface CheckOptions {
  faultsStoppedAt: number;
  quiescedAt: number;
  compactedTopics?: string[];
  retentionTopics?: string[];
}
export function checkHistory(_h: History, _f: FinalState, _o: CheckOptions): Violation[] {
  return [];
}
export function formatViolations(v: Violation[], _h: History): string {
  return JSON.stringify(v);
}
