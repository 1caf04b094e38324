// aedes-persistence-redis ships no types: the one call the durable aedes peer makes.
declare module 'aedes-persistence-redis' {
  import type { AedesOptions } from 'aedes';
  /** ioredis options (host, port, db, …); the persistence opens two connections with them. */
  export default function redisPersistence(options?: { host?: string; port?: number; db?: number }): NonNullable<AedesOptions['persistence']>;
}
