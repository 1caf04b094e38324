import { isValidTopic } from './topic.js';

/**
 * Topic conditions: an app server sends to the devices whose topics satisfy a boolean
 * expression, as with FCM conditions (`'a' in topics && !('b' in topics)`) or Xiaomi's
 * topic_op. Both FCM's quoted form and bare topic names are accepted, with `&&` `||` `!`
 * or the keywords AND OR NOT; precedence is NOT, then AND, then OR.
 *
 * The limits bound the work of evaluating one condition against every candidate device
 * and the parser's recursion, whatever an app server sends.
 */
export const MAX_CONDITION_TOPICS = 16;
/** Parentheses and NOTs, each counting one level. */
export const MAX_CONDITION_DEPTH = 8;
export const MAX_CONDITION_LENGTH = 1024;

/** Parsed trees are normalised: no and/or directly inside one of the same kind, none with fewer than two operands. */
export type TopicCondition =
  | { kind: 'topic'; topic: string }
  | { kind: 'not'; of: TopicCondition }
  | { kind: 'and' | 'or'; of: TopicCondition[] };

/**
 * A condition that does not parse. Not a PetrelError so this module stays free of the
 * catalog; callers map `code` to it.
 */
export class ConditionError extends Error {
  override readonly name = 'ConditionError';
  readonly code = 'condition_invalid';
  /** 0-based offset into the condition text (UTF-16 units) where the problem was found. */
  readonly position: number;
  constructor(problem: string, position: number) {
    super(`${problem} (position ${position})`);
    this.position = position;
  }
}

export function parseCondition(text: string): TopicCondition {
  if (text.length > MAX_CONDITION_LENGTH) throw new ConditionError(`the condition is longer than ${MAX_CONDITION_LENGTH} characters`, MAX_CONDITION_LENGTH);
  return new Parser(text).parse();
}

/**
 * Canonical text: topics bare (quoted only when named AND, OR or NOT), `&&` `||` `!`,
 * minimal parentheses and no spaces, so it is never longer, nor deeper, than any text that
 * parses to the same tree: a stored canonical condition always parses again within the limits.
 */
export function formatCondition(c: TopicCondition): string {
  return format(c, OR);
}

export function conditionTopics(c: TopicCondition): string[] {
  const topics = new Set<string>();
  const visit = (node: TopicCondition): void => {
    if (node.kind === 'topic') topics.add(node.topic);
    else if (node.kind === 'not') visit(node.of);
    else node.of.forEach(visit);
  };
  visit(c);
  return [...topics].sort();
}

export function matchesCondition(c: TopicCondition, has: (topic: string) => boolean): boolean {
  switch (c.kind) {
    case 'topic': return has(c.topic);
    case 'not': return !matchesCondition(c.of, has);
    case 'and': return c.of.every((x) => matchesCondition(x, has));
    case 'or': return c.of.some((x) => matchesCondition(x, has));
  }
}

/**
 * Whether a device subscribed to none of the condition's topics matches (`!a`, `a || !b`).
 * Then the topics' subscriber sets do not cover the audience and every device of the app
 * must be tested; otherwise testing the union of those sets is enough.
 */
export function needsEveryDevice(c: TopicCondition): boolean {
  return matchesCondition(c, () => false);
}

const KEYWORDS = { AND: 'and', OR: 'or', NOT: 'not' } as const;
const WHITESPACE = /[ \t\r\n]/;
/** Characters that end a bare word: whitespace, operators, parentheses, quotes. */
const DELIMITER = /[ \t\r\n()!&|'"]/;
/** What must follow a quoted topic; the whitespace before `in` keeps the FCM form no shorter than the canonical one. */
const IN_TOPICS = /^[ \t\r\n]+in[ \t\r\n]+topics(?![^ \t\r\n()!&|'"])/;

/** Binding strength, for deciding where parentheses are needed. */
type Precedence = 1 | 2 | 3;
const OR: Precedence = 1;
const AND: Precedence = 2;
const UNARY: Precedence = 3;

type Token =
  | { kind: 'topic'; topic: string; at: number; text: string }
  | { kind: 'and' | 'or' | 'not' | '(' | ')'; at: number; text: string }
  | { kind: 'end'; at: number };

function join(kind: 'and' | 'or', parts: TopicCondition[]): TopicCondition {
  if (parts.length === 1) return parts[0]!;
  return { kind, of: parts.flatMap((p) => ((p.kind === 'and' || p.kind === 'or') && p.kind === kind ? p.of : [p])) };
}

function format(c: TopicCondition, context: Precedence): string {
  switch (c.kind) {
    case 'topic':
      if (!isValidTopic(c.topic)) throw new RangeError(`cannot format the invalid topic name "${c.topic.slice(0, 64)}"`);
      return Object.hasOwn(KEYWORDS, c.topic) ? `'${c.topic}' in topics` : c.topic;
    case 'not':
      return `!${format(c.of, UNARY)}`;
    case 'and':
    case 'or': {
      if (c.of.length === 0) throw new RangeError(`cannot format an '${c.kind}' without operands`);
      if (c.of.length === 1) return format(c.of[0]!, context);
      const own = c.kind === 'and' ? AND : OR;
      const text = c.of.map((x) => format(x, own)).join(c.kind === 'and' ? '&&' : '||');
      return own < context ? `(${text})` : text;
    }
  }
}

/** Recursive descent over a lazily read token stream, so the first error in the text is the one reported. */
class Parser {
  private offset = 0;
  private token: Token;
  private previous: Token | undefined;
  private readonly topics = new Set<string>();

  constructor(private readonly text: string) {
    this.token = this.lex();
  }

  parse(): TopicCondition {
    const first = this.token;
    if (first.kind === 'end') throw new ConditionError('the condition is empty', 0);
    const tree = this.parseOr(0);
    if (this.token.kind === ')') throw new ConditionError(`unbalanced ")": no "(" to close`, this.token.at);
    if (this.token.kind !== 'end') throw this.unexpected(`"&&" or "||"`);
    return tree;
  }

  private parseOr(depth: number): TopicCondition {
    const parts = [this.parseAnd(depth)];
    while (this.token.kind === 'or') {
      this.advance();
      parts.push(this.parseAnd(depth));
    }
    return join('or', parts);
  }

  private parseAnd(depth: number): TopicCondition {
    const parts = [this.parseUnary(depth)];
    while (this.token.kind === 'and') {
      this.advance();
      parts.push(this.parseUnary(depth));
    }
    return join('and', parts);
  }

  private parseUnary(depth: number): TopicCondition {
    const token = this.token;
    switch (token.kind) {
      case 'not':
        this.nest(token.at, depth);
        this.advance();
        return { kind: 'not', of: this.parseUnary(depth + 1) };
      case '(': {
        this.nest(token.at, depth);
        this.advance();
        const inner = this.parseOr(depth + 1);
        if (this.token.kind === 'end') throw new ConditionError(`unbalanced "(" at position ${token.at}: the condition ends before its ")"`, this.token.at);
        if (this.token.kind !== ')') throw this.unexpected(`"&&", "||" or ")"`);
        this.advance();
        return inner;
      }
      case 'topic':
        this.topics.add(token.topic);
        if (this.topics.size > MAX_CONDITION_TOPICS) throw new ConditionError(`more than ${MAX_CONDITION_TOPICS} distinct topics`, token.at);
        this.advance();
        return { kind: 'topic', topic: token.topic };
      default:
        throw this.unexpected(`a topic, "!" or "("`);
    }
  }

  private nest(at: number, depth: number): void {
    if (depth >= MAX_CONDITION_DEPTH) throw new ConditionError(`nested more than ${MAX_CONDITION_DEPTH} levels deep (parentheses and NOTs)`, at);
  }

  private advance(): void {
    this.previous = this.token;
    this.token = this.lex();
  }

  private unexpected(expected: string): ConditionError {
    const found = this.token;
    const after = this.previous && this.previous.kind !== 'end' ? ` after ${quote(this.previous.text)}` : '';
    const what = found.kind === 'end' ? 'the end of the condition' : found.kind === 'topic' ? `the topic ${quote(found.text)}` : quote(found.text);
    // In `a and b` the bare `and` is a topic name; say why.
    const hint = found.kind === 'topic' && found.text === found.topic && Object.hasOwn(KEYWORDS, found.topic.toUpperCase()) ? ' (the keywords AND, OR and NOT are uppercase)' : '';
    return new ConditionError(`expected ${expected}${after}, found ${what}${hint}`, found.at);
  }

  private lex(): Token {
    const s = this.text;
    let at = this.offset;
    while (at < s.length && WHITESPACE.test(s[at]!)) at++;
    if (at >= s.length) {
      this.offset = at;
      return { kind: 'end', at };
    }
    const pair = s.slice(at, at + 2);
    if (pair === '&&' || pair === '||') return this.emit({ kind: pair === '&&' ? 'and' : 'or', at, text: pair });
    const ch = s[at]!;
    if (ch === '!') return this.emit({ kind: 'not', at, text: ch });
    if (ch === '(' || ch === ')') return this.emit({ kind: ch, at, text: ch });
    if (ch === '&' || ch === '|') throw new ConditionError(`unknown token "${ch}" (did you mean "${ch}${ch}"?)`, at);
    if (ch === "'" || ch === '"') return this.lexQuoted(at, ch);

    let end = at;
    while (end < s.length && !DELIMITER.test(s[end]!)) end++;
    const word = s.slice(at, end);
    if (Object.hasOwn(KEYWORDS, word)) return this.emit({ kind: KEYWORDS[word as keyof typeof KEYWORDS], at, text: word });
    checkTopic(word, at, true);
    return this.emit({ kind: 'topic', topic: word, at, text: word });
  }

  /** FCM's `'name' in topics`, read as one token so a topic named like a keyword can be written. */
  private lexQuoted(at: number, mark: string): Token {
    const close = this.text.indexOf(mark, at + 1);
    if (close < 0) throw new ConditionError(`unterminated quote`, at);
    const topic = this.text.slice(at + 1, close);
    if (topic === '') throw new ConditionError('empty topic name between quotes', at);
    checkTopic(topic, at + 1, false);
    const rest = IN_TOPICS.exec(this.text.slice(close + 1));
    if (!rest) throw new ConditionError(`expected "in topics", after whitespace, to follow the quoted topic ${quote(topic)}`, close + 1);
    this.offset = close + 1 + rest[0].length;
    return { kind: 'topic', topic, at, text: this.text.slice(at, this.offset) };
  }

  private emit(token: Token & { text: string }): Token {
    this.offset = token.at + token.text.length;
    return token;
  }
}

/** Throws unless `word` is a valid topic name; `bare` words made only of foreign characters are unknown tokens instead. */
function checkTopic(word: string, at: number, bare: boolean): void {
  if (isValidTopic(word)) return;
  const chars = [...word];
  const bad = chars.findIndex((c) => !isValidTopic(c));
  if (bad < 0) throw new ConditionError(`topic name longer than 128 characters`, at);
  if (bare && chars.every((c) => !isValidTopic(c))) throw new ConditionError(`unknown token ${quote(word)}`, at);
  const offset = chars.slice(0, bad).join('').length;
  throw new ConditionError(`invalid character ${quote(chars[bad]!)} in topic name ${quote(word)}: topics are letters, digits and _ - . ~ %`, at + offset);
}

function quote(text: string): string {
  return JSON.stringify(text.length > 32 ? `${text.slice(0, 32)}…` : text);
}
