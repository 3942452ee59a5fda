#!/usr/bin/env node
// Writes regex.json: what ECMAScript itself (node's RegExp with the "u" flag, as JSON Schema
// recommends) says about each pattern and subject below, so that sdk-core's own engine
// (structured/regex) is checked against the language it claims to read, natively and in wasm.
//
// Run by hand when the cases change: node tests/vectors/make_regex_vectors.js
'use strict';
const fs = require('node:fs');
const path = require('node:path');

// pattern -> subjects. Every pattern here must compile in node and in sdk-core.
const search = [
  // Literals, escapes, and `.` over code points.
  ['abc', ['abc', 'xabcx', 'ab', '', 'ABC']],
  ['a.c', ['abc', 'a\nc', 'a\rc', 'a\u2028c', 'aéc', 'a😀c', 'ac']],
  ['^.$', ['é', '😀', '日', '\u0085', '\n', 'ab', '']],
  ['^.{3}$', ['日本語', 'abc', 'ab', 'a😀b', 'abcd']],
  ['\\n\\t\\r\\f\\v', ['\n\t\r\f\u000b', '\n\t\r\f']],
  ['\\0', ['\u0000', '0']],
  ['\\cJ\\cj', ['\n\n', 'JJ']],
  ['\\x41\\x7a', ['Az', 'az']],
  ['\\u00e9', ['é', 'e']],
  ['^\\u{1F600}$', ['😀', '😁']],
  ['^\\u{000041}$', ['A']],
  ['^\\uD83D\\uDE00$', ['😀', '😁']],
  ['^\\^\\$\\\\\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\/$', ['^$\\.*+?()[]{}|/', '^$\\.*+?()[]{}|']],
  ['a/b', ['a/b', 'ab']],
  ['^é+$', ['ééé', 'e', 'éa']],
  ['^😀{2}$', ['😀😀', '😀']],
  // Classes.
  ['^[a-z0-9_-]+$', ['abc-1_2', 'ABC', 'a b', '']],
  ['[^a-z]', ['abc', 'abC', '']],
  ['[]', ['', 'a']],
  ['[^]', ['', 'a', '\n']],
  ['^[^]$', ['😀', 'ab']],
  ['^[é-ú]$', ['ó', 'e', 'û']],
  ['^[😀-😂]$', ['😁', '😃']],
  ['^[\\u0041-\\u005A]+$', ['QRS', 'qrs']],
  ['[\\x00-\\x1f]', ['\u0001', ' ']],
  ['^[\\d]+$', ['0123456789', '12a']],
  ['[\\b]', ['\b', 'b']],
  ['^[\\-a]+$', ['-a-', 'b']],
  ['^[a-]$', ['-', 'a', 'b']],
  ['^[-a]$', ['-', 'a', 'b']],
  ['^[a\\-z]$', ['-', 'a', 'z', 'b']],
  ['^[--/]$', ['.', '-', '/', '0']],
  ['^[\\d-]$', ['-', '5', 'a']],
  ['^[\\^]$', ['^', 'a']],
  ['^[[]$', ['[']],
  ['^[\\]]$', [']']],
  ['^[^\\d\\s]$', ['1', ' ', 'a', 'é']],
  ['^[\\w.-]+@[\\w-]+\\.[a-z]{2,}$', ['jo.ann-e@mail-host.org', 'jo@host', 'jo@host.c', 'ü@host.org']],
  // Class escapes, as ECMAScript defines them.
  ['^\\d$', ['7', 'a', '٣']],
  ['^\\D$', ['7', 'a']],
  ['^\\w$', ['a', 'Z', '5', '_', 'é', '-']],
  ['^\\W$', ['a', 'é', ' ']],
  ['^\\s$', [' ', '\t', '\n', '\u000b', '\f', '\r', '\u00a0', '\u1680', '\u2000', '\u200a',
    '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff', '\u200b', '\u180e', '\u0085', 'a']],
  ['^\\S+$', ['héllo', 'a b']],
  ['^[^\\x00-\\x7F]+$', ['日本語', 'abc']],
  // Anchors and word boundaries.
  ['^abc$', ['abc', 'abcd', 'xabc', 'abc\n']],
  ['^$', ['', 'a', '\n']],
  ['a$', ['ba', 'ab', 'a\n']],
  ['^a|b$', ['ax', 'xb', 'xa', 'bx']],
  ['a^b', ['ab', 'a^b']],
  ['x$y', ['xy', 'x$y']],
  ['\\bfoo\\b', ['foo', 'a foo b', 'foobar', 'foo_', 'éfooé', '(foo)']],
  ['\\Bfoo', ['afoo', 'foo', ' foo']],
  ['\\b', ['', 'a', ' ']],
  ['\\B', ['', 'a', ' ', 'ab']],
  ['^\\b$', ['']],
  ['(?:^|,)x(?:,|$)', ['x', 'a,x,b', 'ax', 'a,xb']],
  ['(?:^)*a', ['ba']],
  ['(?:\\b)+a', ['ba', ' a']],
  // Groups and alternation.
  ['(ab)+c', ['ababc', 'ac', 'abc']],
  ['^(?:ab|cd)+$', ['abcdab', 'abce', '']],
  ['(?<year>\\d{4})-(?<month>\\d{2})', ['2024-05', '24-05']],
  ['(?<$a_1>x)', ['x', 'y']],
  ['a|', ['b', '']],
  ['|', ['anything', '']],
  ['()', ['', 'a']],
  ['^(a|b|c|d)e$', ['de', 'ee']],
  ['^x(?:)y$', ['xy', 'x y']],
  ['^(((((((((((a)))))))))))$', ['a', 'aa']],
  // Quantifiers, greedy and lazy.
  ['^a*$', ['', 'aaa', 'ab']],
  ['^a+$', ['', 'a', 'aaaa']],
  ['^a?$', ['', 'a', 'aa']],
  ['^a{3}$', ['aa', 'aaa', 'aaaa']],
  ['^a{2,}$', ['a', 'aa', 'aaaaa']],
  ['^a{2,4}$', ['a', 'aa', 'aaaa', 'aaaaa']],
  ['^a{0}$', ['', 'a']],
  ['^a{0,0}b$', ['b', 'ab']],
  ['^(?:ab){2,3}$', ['ab', 'abab', 'ababab', 'abababab']],
  ['^a*?$', ['', 'aa', 'ab']],
  ['^a+?b', ['aab', 'b']],
  ['^a??$', ['', 'a', 'aa']],
  ['^a{2,3}?$', ['aa', 'aaa', 'aaaa']],
  ['^a{2,}?$', ['a', 'aaaaa']],
  ['^a{2}?$', ['aa', 'a']],
  ['^(a|ab)(c|bcd)(d*)$', ['abcd', 'abcdd', 'abd']],
  ['^(?:a*)*$', ['aaa', 'b', '']],
  ['^(?:a*)+b$', ['aaab', 'b', 'aaa']],
  ['^(?:a?){3}a{3}$', ['aaa', 'aaaaaa', 'aa']],
  ['^(?:){1000}$', ['', 'a']],
  ['^a{1000}$', ['a'.repeat(1000), 'a'.repeat(999), 'a'.repeat(1001)]],
  ['^(?:a|b){3,5}$', ['ab', 'aba', 'ababa', 'ababab']],
  // Patterns JSON Schema authors write.
  ['^(\\([0-9]{3}\\))?[0-9]{3}-[0-9]{4}$', ['555-1212', '(888)555-1212', '(888)555-1212 ext. 532', '(800)FLOWERS']],
  ['^\\d{4}-\\d{2}-\\d{2}$', ['2024-02-29', '2024-2-29', '2024-02-29T00:00']],
  ['^(?:[01]\\d|2[0-3]):[0-5]\\d$', ['23:59', '24:00', '9:30', '09:30']],
  ['^#?([a-f0-9]{6}|[a-f0-9]{3})$', ['#a1b2c3', 'abc', '#abcd', 'ABC']],
  ['^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$',
    ['123e4567-e89b-12d3-a456-426614174000', '123e4567-e89b-12d3-c456-426614174000']],
  ['^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$', ['a.b+c@d-e.fg', 'a@b', '@b.cd']],
  ['^https?://[^\\s/$.?#].[^\\s]*$', ['https://example.com/a?b=c', 'http://', 'ftp://x.y', 'https://a b']],
  ['^[A-Z]{2}\\d{2}[A-Z0-9]{1,30}$', ['DE89370400440532013000', 'de89370400440532013000']],
  ['^-?(?:0|[1-9]\\d*)(?:\\.\\d+)?$', ['0', '-1.5', '01', '1.']],
  ['^\\s*\\S.*$', ['  x', '   ', '']],
  ['(?:^|\\s)#\\w+', ['a #tag', 'a#tag', '#tag']],
  // Inputs that make a backtracking engine take exponential time (kept small enough for node).
  ['^(a+)+$', ['a'.repeat(20) + 'b', 'a'.repeat(20)]],
  ['^(a|aa)*b$', ['a'.repeat(20), 'a'.repeat(20) + 'b']],
  ['^(a*)*b$', ['a'.repeat(20)]],
  ['^(.*a){12}$', ['a'.repeat(11) + 'b', 'a'.repeat(12)]],
  ['^(?:[ab]*a[ab]{8})$', ['ab'.repeat(10), 'b'.repeat(20)]],
];

// Patterns sdk-core refuses: `ecmascript` says whether RegExp(pattern, "u") accepts it (checked
// below), so that what is refused only here (unsupported) is told apart from what is not
// ECMAScript at all.
const refused = [
  ['a backreference', '(a)\\1', 'invalid_argument'],
  ['a backreference to no group', '\\1', 'invalid_argument'],
  ['a named backreference', '(?<n>a)\\k<n>', 'invalid_argument'],
  ['lookahead', 'a(?=b)', 'invalid_argument'],
  ['negative lookahead', 'a(?!b)', 'invalid_argument'],
  ['lookbehind', '(?<=a)b', 'invalid_argument'],
  ['negative lookbehind', '(?<!a)b', 'invalid_argument'],
  ['a property escape', '\\p{L}', 'invalid_argument'],
  ['a negated property escape', '\\P{Lu}', 'invalid_argument'],
  ['a property escape in a class', '[\\p{L}]', 'invalid_argument'],
  ['a non-ASCII group name', '(?<é>x)', 'invalid_argument'],
  ['an escaped group name', '(?<a\\u0041>x)', 'invalid_argument'],
  ['an unclosed group', '(a', 'invalid_argument'],
  ['an unclosed outer group', '((a)', 'invalid_argument'],
  ['an unmatched )', 'a)', 'invalid_argument'],
  ['an unclosed class', '[a', 'invalid_argument'],
  ['a lone [', '[', 'invalid_argument'],
  ['a lone ]', 'a]', 'invalid_argument'],
  ['a lone {', 'a{', 'invalid_argument'],
  ['an incomplete quantifier', 'a{1', 'invalid_argument'],
  ['a quantifier without a minimum', 'a{,5}', 'invalid_argument'],
  ['a lone }', 'a}', 'invalid_argument'],
  ['a quantifier first', '*a', 'invalid_argument'],
  ['a braced quantifier first', '{1}', 'invalid_argument'],
  ['a quantifier after |', 'a|*', 'invalid_argument'],
  ['a quantifier after (', '(*a)', 'invalid_argument'],
  ['a quantified quantifier', 'a**', 'invalid_argument'],
  ['a doubly lazy quantifier', 'a*??', 'invalid_argument'],
  ['a quantified ^', '^*', 'invalid_argument'],
  ['a quantified $', 'a$+', 'invalid_argument'],
  ['a quantified \\b', '\\b+', 'invalid_argument'],
  ['numbers out of order', 'a{2,1}', 'invalid_argument'],
  ['an unknown escape', '\\a', 'invalid_argument'],
  ['an escaped -', '\\-', 'invalid_argument'],
  ['an escaped _ in a class', '[\\_]', 'invalid_argument'],
  ['\\B in a class', '[\\B]', 'invalid_argument'],
  ['a backreference in a class', '[\\1]', 'invalid_argument'],
  ['a bad \\c', '\\c1', 'invalid_argument'],
  ['a short \\x', '\\x1', 'invalid_argument'],
  ['a short \\u', '\\u12', 'invalid_argument'],
  ['an empty \\u{}', '\\u{}', 'invalid_argument'],
  ['\\u{} past U+10FFFF', '\\u{110000}', 'invalid_argument'],
  ['an octal escape', '\\00', 'invalid_argument'],
  ['a trailing \\', 'a\\', 'invalid_argument'],
  ['a range out of order', '[z-a]', 'invalid_argument'],
  ['a range from a class escape', '[\\d-z]', 'invalid_argument'],
  ['a range to a class escape', '[a-\\d]', 'invalid_argument'],
  ['an inline flag', '(?i)a', 'invalid_argument'],
  ['a modifier group', '(?i:a)', 'invalid_argument'],
  ['an invalid group name', '(?<1a>x)', 'invalid_argument'],
  ['a duplicate group name', '(?<a>x)(?<a>y)', 'invalid_argument'],
  ['nested counted repetition', '(a{1000}){1000}', 'payload_too_large'],
  ['three levels of counted repetition', '((a{64}){64}){64}', 'payload_too_large'],
  ['one instruction past the program limit', 'a{4096}', 'payload_too_large'],
  ['a long bounded repetition', '[a-z]{0,5000}', 'payload_too_large'],
  ['a pattern over 1024 bytes', 'a'.repeat(1025), 'payload_too_large'],
];

function ecmascriptAccepts(pattern) {
  try {
    new RegExp(pattern, 'u');
    return true;
  } catch (error) {
    if (error instanceof SyntaxError) return false;
    throw error;
  }
}

const out = {
  description:
    'Regular expressions for JSON Schema `pattern` (sdk-core structured/regex). "search": ' +
    'whether each subject matches somewhere, as node\'s RegExp(pattern, "u").test(subject) ' +
    'says. "refused": patterns sdk-core refuses, with the error code, and whether ECMAScript ' +
    'itself accepts them. Generated by make_regex_vectors.js.',
  search: search.map(([pattern, subjects]) => {
    if (!ecmascriptAccepts(pattern)) throw new Error(`node refuses ${pattern}`);
    const regexp = new RegExp(pattern, 'u');
    return { pattern, tests: subjects.map((subject) => ({ subject, matched: regexp.test(subject) })) };
  }),
  refused: refused.map(([name, pattern, code]) => ({
    name,
    pattern,
    code,
    ecmascript: ecmascriptAccepts(pattern) ? 'valid' : 'invalid',
  })),
};
fs.writeFileSync(path.join(__dirname, 'regex.json'), `${JSON.stringify(out, null, 1)}\n`);
