import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  ConditionError,
  MAX_CONDITION_DEPTH,
  MAX_CONDITION_LENGTH,
  MAX_CONDITION_TOPICS,
  conditionTopics,
  formatCondition,
  matchesCondition,
  needsEveryDevice,
  parseCondition,
  type TopicCondition,
} from '../../src/domain/topic-condition.js';

const t = (topic: string): TopicCondition => ({ kind: 'topic', topic });
const not = (of: TopicCondition): TopicCondition => ({ kind: 'not', of });
const and = (...of: TopicCondition[]): TopicCondition => ({ kind: 'and', of });
const or = (...of: TopicCondition[]): TopicCondition => ({ kind: 'or', of });

/** The ConditionError that parsing `text` throws. */
function parseError(text: string): ConditionError {
  try {
    parseCondition(text);
  } catch (err) {
    assert.ok(err instanceof ConditionError, `threw ${String(err)}`);
    assert.equal(err.code, 'condition_invalid');
    assert.ok(err.message.endsWith(`(position ${err.position})`), err.message);
    return err;
  }
  assert.fail(`${JSON.stringify(text)} parsed`);
}

describe('parseCondition', () => {
  test('each operator, in symbols and keywords', () => {
    assert.deepEqual(parseCondition('news'), t('news'));
    assert.deepEqual(parseCondition('a && b'), and(t('a'), t('b')));
    assert.deepEqual(parseCondition('a AND b'), and(t('a'), t('b')));
    assert.deepEqual(parseCondition('a || b'), or(t('a'), t('b')));
    assert.deepEqual(parseCondition('a OR b'), or(t('a'), t('b')));
    assert.deepEqual(parseCondition('!a'), not(t('a')));
    assert.deepEqual(parseCondition('NOT a'), not(t('a')));
    assert.deepEqual(parseCondition('(a)'), t('a'));
    assert.deepEqual(parseCondition('a&&b||!c'), or(and(t('a'), t('b')), not(t('c'))));
    assert.deepEqual(parseCondition('\t(a\nOR b)\r\nAND NOT(c) '), and(or(t('a'), t('b')), not(t('c'))));
  });

  test('precedence: NOT, then AND, then OR', () => {
    assert.deepEqual(parseCondition('a || b && c'), or(t('a'), and(t('b'), t('c'))));
    assert.deepEqual(parseCondition('a && b || c'), or(and(t('a'), t('b')), t('c')));
    assert.deepEqual(parseCondition('!a && b'), and(not(t('a')), t('b')));
    assert.deepEqual(parseCondition('NOT a OR b AND c'), or(not(t('a')), and(t('b'), t('c'))));
    assert.deepEqual(parseCondition('(a || b) && c'), and(or(t('a'), t('b')), t('c')));
  });

  test("FCM's quoted form, single or double quotes, mixed with bare topics", () => {
    assert.deepEqual(
      parseCondition(`'TopicA' in topics && ("TopicB" in topics || 'TopicC' in topics)`),
      and(t('TopicA'), or(t('TopicB'), t('TopicC'))),
    );
    assert.deepEqual(parseCondition(`!'a' in topics||b`), or(not(t('a')), t('b')));
    assert.deepEqual(parseCondition(`('a' in topics)`), t('a'));
  });

  test('keywords are uppercase whole words; a topic named like one is quoted', () => {
    assert.deepEqual(parseCondition('ANDROID && NOTES || ORBIT'), or(and(t('ANDROID'), t('NOTES')), t('ORBIT')));
    assert.deepEqual(parseCondition('and && or || not'), or(and(t('and'), t('or')), t('not')));
    assert.deepEqual(parseCondition(`'AND' in topics OR "NOT" in topics`), or(t('AND'), t('NOT')));
    assert.deepEqual(parseCondition('in && topics'), and(t('in'), t('topics')));
    assert.equal(parseError('AND').position, 0);
    assert.equal(parseError('a && OR').position, 5);
  });

  test('the tree is normalised: same-kind and/or flattened, parentheses gone, double negation kept', () => {
    assert.deepEqual(parseCondition('a && (b && c)'), and(t('a'), t('b'), t('c')));
    assert.deepEqual(parseCondition('((a || b) || (c || d))'), or(t('a'), t('b'), t('c'), t('d')));
    assert.deepEqual(parseCondition('(a || b) && (c || d)'), and(or(t('a'), t('b')), or(t('c'), t('d'))));
    assert.deepEqual(parseCondition('!!a'), not(not(t('a'))));
    assert.deepEqual(parseCondition('!(!a)'), not(not(t('a'))));
  });
});

describe('limits', () => {
  const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `t${i}`);

  test(`at most ${MAX_CONDITION_TOPICS} distinct topics; repeats do not count`, () => {
    assert.equal(conditionTopics(parseCondition(names(16).join(' || '))).length, 16);
    const text = names(17).join(' || ');
    const err = parseError(text);
    assert.equal(err.position, text.indexOf('t16'));
    assert.match(err.message, /more than 16 distinct topics/);
    assert.deepEqual(conditionTopics(parseCondition(Array(100).fill('a || b').join(' && '))), ['a', 'b']);
  });

  test(`nesting at most ${MAX_CONDITION_DEPTH} deep, counting parentheses and NOTs`, () => {
    assert.deepEqual(parseCondition(`${'!'.repeat(8)}a`), Array.from({ length: 8 }).reduce<TopicCondition>((c) => not(c), t('a')));
    assert.deepEqual(parseCondition(`${'('.repeat(8)}a${')'.repeat(8)}`), t('a'));
    assert.deepEqual(parseCondition('!(!(!(!(a))))'), not(not(not(not(t('a'))))));
    assert.deepEqual(parseCondition('NOT (a || NOT (b && NOT (c || NOT (d))))').kind, 'not');

    for (const [text, position] of [
      [`${'!'.repeat(9)}a`, 8],
      [`${'('.repeat(9)}a${')'.repeat(9)}`, 8],
      ['!(!(!(!(!a))))', 8],
      ['x || (a && (b || (c && (d || (e && (f || (g && (h || (i))))))))))', 53],
    ] as const) {
      const err = parseError(text);
      assert.equal(err.position, position, text);
      assert.match(err.message, /nested more than 8 levels/);
    }
    // Deep input fails fast on the limit instead of recursing into it.
    assert.equal(parseError('('.repeat(1000)).position, 8);
  });

  test(`at most ${MAX_CONDITION_LENGTH} characters`, () => {
    assert.deepEqual(parseCondition(`a${' '.repeat(1023)}`), t('a'));
    const err = parseError(`a${' '.repeat(1024)}`);
    assert.equal(err.position, 1024);
    assert.match(err.message, /longer than 1024 characters/);
  });

  test('topic names of at most 128 characters', () => {
    const long = 'x'.repeat(128);
    assert.deepEqual(parseCondition(`${long} || '${long}' in topics`), or(t(long), t(long)));
    assert.equal(parseError(`a || ${long}y`).position, 5);
    assert.equal(parseError(`a || "${long}y" in topics`).position, 6);
  });
});

describe('parse errors name the problem and its position', () => {
  const cases: Array<[string, number, RegExp]> = [
    ['', 0, /the condition is empty/],
    ['  \n ', 0, /the condition is empty/],
    ['(a && b', 7, /unbalanced "\(" at position 0/],
    ['((a) || (b)', 11, /unbalanced "\(" at position 0/],
    ['a && b)', 6, /unbalanced "\)"/],
    ['(a b)', 3, /expected "&&", "\|\|" or "\)" after "a", found the topic "b"/],
    ['()', 1, /expected a topic, "!" or "\(" after "\(", found "\)"/],
    ['a &&', 4, /expected a topic.* after "&&", found the end of the condition/],
    ['a OR', 4, /after "OR", found the end/],
    ['a || !', 6, /after "!", found the end/],
    ['&& a', 0, /expected a topic, "!" or "\(", found "&&"/],
    ['a b', 2, /expected "&&" or "\|\|" after "a", found the topic "b"/],
    ['a and b', 2, /keywords AND, OR and NOT are uppercase/],
    ['news$ && b', 4, /invalid character "\$" in topic name "news\$"/],
    ['a && b/c', 6, /invalid character "\/"/],
    ['a || café', 8, /invalid character "é"/],
    [`'a b' in topics`, 2, /invalid character " "/],
    ['a = b', 2, /unknown token "="/],
    ['a || 😀', 5, /unknown token "😀"/],
    ['a & b', 2, /unknown token "&" \(did you mean "&&"\?\)/],
    ['a | b', 2, /unknown token "\|" \(did you mean "\|\|"\?\)/],
    [`'a`, 0, /unterminated quote/],
    [`"a' in topics`, 0, /unterminated quote/],
    [`'' in topics`, 0, /empty topic name/],
    [`'a'`, 3, /expected "in topics"/],
    [`'a'in topics`, 3, /expected "in topics"/],
    [`'a' in topic`, 3, /expected "in topics"/],
    [`'a' in topicsX`, 3, /expected "in topics"/],
  ];
  for (const [text, position, message] of cases) {
    test(JSON.stringify(text), () => {
      const err = parseError(text);
      assert.equal(err.position, position, err.message);
      assert.match(err.message, message);
    });
  }
});

describe('formatCondition', () => {
  test('canonical text: bare topics, symbols, minimal parentheses, no spaces', () => {
    assert.equal(formatCondition(parseCondition(`'a' in topics AND (b OR NOT ("c" in topics))`)), 'a&&(b||!c)');
    assert.equal(formatCondition(parseCondition('((a && b)) || (c)')), 'a&&b||c');
    assert.equal(formatCondition(parseCondition('!(a || b) && !!c')), '!(a||b)&&!!c');
    assert.equal(formatCondition(parseCondition(`'OR' in topics || "in" in topics`)), `'OR' in topics||in`);
  });

  test('non-normalised trees format as their normal form', () => {
    assert.equal(formatCondition(and(t('a'), and(t('b'), t('c')))), 'a&&b&&c');
    assert.equal(formatCondition(and(or(t('a')), t('b'))), 'a&&b');
    assert.equal(formatCondition(not(and(or(t('a'), t('b'))))), '!(a||b)');
  });

  test('a tree no text describes is refused', () => {
    assert.throws(() => formatCondition(and()), RangeError);
    assert.throws(() => formatCondition(or(t('a'), t('a b'))), RangeError);
    assert.throws(() => formatCondition(t('')), RangeError);
  });
});

describe('evaluation', () => {
  const subscribed = (...topics: string[]) => (topic: string) => topics.includes(topic);

  test('conditionTopics lists each topic once, sorted', () => {
    assert.deepEqual(conditionTopics(parseCondition('z || !(b && a) || b && z')), ['a', 'b', 'z']);
  });

  test('matchesCondition', () => {
    const c = parseCondition(`'sports' in topics && ('uk' in topics || !'eu' in topics)`);
    assert.equal(matchesCondition(c, subscribed('sports', 'uk')), true);
    assert.equal(matchesCondition(c, subscribed('sports')), true);
    assert.equal(matchesCondition(c, subscribed('sports', 'eu')), false);
    assert.equal(matchesCondition(c, subscribed('uk')), false);
  });

  test('needsEveryDevice when a device with none of the topics matches', () => {
    for (const text of ['!a', 'a || !b', '!(a && b)', '!!!a', 'NOT a AND NOT b']) assert.equal(needsEveryDevice(parseCondition(text)), true, text);
    for (const text of ['a', 'a && !b', '!!a', 'a || b && !c', '!(!a || b)']) assert.equal(needsEveryDevice(parseCondition(text)), false, text);
  });
});

/** What parseCondition makes of the text a tree formats to. */
function normalise(c: TopicCondition): TopicCondition {
  if (c.kind === 'topic') return c;
  if (c.kind === 'not') return not(normalise(c.of));
  const kind = c.kind;
  const of = c.of.map(normalise).flatMap((x) => (x.kind === kind ? (x as { of: TopicCondition[] }).of : [x]));
  return of.length === 1 ? of[0]! : { kind, of };
}

/** The longest way to write `c`: FCM's quoted form, keywords, every operand parenthesised. */
function verbose(c: TopicCondition): string {
  const operand = (x: TopicCondition) => (x.kind === 'topic' ? verbose(x) : `(${verbose(x)})`);
  switch (c.kind) {
    case 'topic': return `"${c.topic}" in topics`;
    case 'not': return `NOT ${operand(c.of)}`;
    default: return c.of.map(operand).join(c.kind === 'and' ? ' AND ' : ' OR ');
  }
}

/** Trees at most `depth` levels deep over `names`, including unflattened and single-operand and/or. */
function tree(names: readonly string[], depth: number): fc.Arbitrary<TopicCondition> {
  const leaf = fc.constantFrom(...names).map(t);
  if (depth === 0) return leaf;
  const sub = tree(names, depth - 1);
  return fc.oneof(
    { arbitrary: leaf, weight: 2 },
    { arbitrary: sub.map(not), weight: 1 },
    { arbitrary: fc.tuple(fc.constantFrom('and' as const, 'or' as const), fc.array(sub, { minLength: 1, maxLength: 4 })).map(([kind, of]) => ({ kind, of })), weight: 2 },
  );
}

// Each tree level adds at most one level of text nesting, so depth 7 stays within the limit.
const awkwardNames = ['a', 'B', 'AND', 'OR', 'NOT', 'in', 'topics', 'and', 'x.y-z_~%41', '-', 'l'.repeat(128)] as const;
const awkwardTree = tree(awkwardNames, 7);
const identifiers = ['a', 'b', 'c', 'd', 'e'] as const;
const identifierTree = tree(identifiers, 7);

describe('properties', () => {
  test('format then parse gives the normalised tree, and the canonical text is a fixed point', () => {
    fc.assert(
      fc.property(awkwardTree, (c) => {
        const text = formatCondition(c);
        fc.pre(text.length <= MAX_CONDITION_LENGTH);
        const parsed = parseCondition(text);
        assert.deepEqual(parsed, normalise(c));
        assert.equal(formatCondition(parsed), text);
      }),
      { numRuns: 2000 },
    );
  });

  test('the same tree written in keywords, FCM form and full parentheses parses to the normalised tree', () => {
    // Depth 4: each level adds at most a NOT and a parenthesis, so the text stays within the limit.
    fc.assert(
      fc.property(tree(awkwardNames, 4), (c) => {
        const text = verbose(c);
        fc.pre(text.length <= MAX_CONDITION_LENGTH);
        assert.deepEqual(parseCondition(text), normalise(c));
      }),
      { numRuns: 1000 },
    );
  });

  test('format then parse keeps the truth table', () => {
    fc.assert(
      fc.property(awkwardTree, fc.subarray([...awkwardNames]), (c, topics) => {
        const text = formatCondition(c);
        fc.pre(text.length <= MAX_CONDITION_LENGTH);
        const has = (topic: string) => topics.includes(topic as (typeof awkwardNames)[number]);
        assert.equal(matchesCondition(parseCondition(text), has), matchesCondition(c, has));
      }),
      { numRuns: 2000 },
    );
  });

  test('the canonical text means the same as a JavaScript expression (same operators and precedence)', () => {
    fc.assert(
      fc.property(identifierTree, fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }), (c, values) => {
        const text = formatCondition(c);
        fc.pre(text.length <= MAX_CONDITION_LENGTH);
        const js = new Function(...identifiers, `return ${text};`) as (...v: boolean[]) => boolean;
        assert.equal(js(...values), matchesCondition(c, (topic) => values[identifiers.indexOf(topic as (typeof identifiers)[number])]!));
      }),
      { numRuns: 1000 },
    );
  });

  test('unless needsEveryDevice, every matching device has one of the topics', () => {
    fc.assert(
      fc.property(identifierTree, fc.subarray([...identifiers, 'f']), (c, topics) => {
        if (needsEveryDevice(c) || !matchesCondition(c, (topic) => topics.includes(topic))) return;
        assert.ok(conditionTopics(c).some((topic) => topics.includes(topic)));
      }),
      { numRuns: 1000 },
    );
  });

  test('any string: a ConditionError or a tree whose canonical text is no longer and parses back', () => {
    const fragment = fc.oneof(
      fc.constantFrom('a', 'b', 'NOT', 'AND', 'OR', 'and', '&&', '||', '&', '|', '!', '(', ')', '((((', '))', `'a' in topics`, `"OR" in topics`, `'`, '"', 'in', 'topics', '$', 'é', '😀', '\uD800', 'x'.repeat(129)),
      fc.integer({ min: 0, max: 20 }).map((i) => `t${i}`),
      fc.string({ unit: 'binary', maxLength: 3 }),
    );
    const soup = fc.array(fc.tuple(fragment, fc.constantFrom('', ' ', ' ', '\t', '\n')), { maxLength: 60 }).map((parts) => parts.flat().join(''));
    const text = fc.oneof({ arbitrary: soup, weight: 4 }, fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'binary', minLength: 1000, maxLength: 1100 }));
    let parsed = 0;
    let refused = 0;
    fc.assert(
      fc.property(text, (s) => {
        let c: TopicCondition;
        try {
          c = parseCondition(s);
        } catch (err) {
          assert.ok(err instanceof ConditionError, `threw ${String(err)}`);
          assert.ok(err.position >= 0 && err.position <= s.length, `position ${err.position} in ${s.length} characters`);
          refused++;
          return;
        }
        parsed++;
        const canonical = formatCondition(c);
        assert.ok(canonical.length <= s.length, `${JSON.stringify(canonical)} is longer than ${JSON.stringify(s)}`);
        assert.deepEqual(parseCondition(canonical), c);
      }),
      { numRuns: 5000 },
    );
    // The soup must reach the parser's success path often, not only its errors.
    assert.ok(parsed > 100 && refused > 100, `parsed ${parsed}, refused ${refused}`);
  });
});
