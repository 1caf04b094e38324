import { createHash } from 'node:crypto';

/**
 * A Lua script, run by SHA (EVALSHA) through a TurnPipeline, which loads it on NOSCRIPT.
 * Names end in the number of keys they take (`hello_2`), and each script's source starts
 * with a header listing KEYS and ARGV, so a reader of the source knows what it touches.
 */
export class RedisScript {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly numberOfKeys: number,
    readonly lua: string,
  ) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }
}
