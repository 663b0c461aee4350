#!/usr/bin/env node
// The `sluice` command (package.json "bin"). The CLI is TypeScript under cli/; tsx (a dependency) runs it
// from the sources, so a clone needs no build step: `npm install` then `npx sluice --help`.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
