declare module 'pgpass/lib/helper.js' {
  import type { Stats } from 'node:fs';
  import type { Readable } from 'node:stream';

  interface PgpassConnInfo {
    host: string;
    port: number;
    database: string;
    user: string;
  }
  const helper: {
    getFileName(env?: Record<string, string | undefined>): string;
    usePgPass(stats: Stats, file: string): boolean;
    getPassword(connInfo: PgpassConnInfo, stream: Readable, callback: (password?: string) => void): void;
  };
  export default helper;
}
