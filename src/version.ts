import fs from 'node:fs';

/** This tool's version, from package.json (one level above src/ and dist/ alike). */
export const TOOL_VERSION: string = (
  JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export const TOOL_NAME = 'cupm-backup';
