// The reference ids for tests/gpt2_cli.py: GPT-2's encoder as the npm package gpt-3-encoder
// 1.1.4 implements it (a port of OpenAI's encoder.py).
//   node reference_encode.js REF_DIR [--whole] FILE...   one line of space-separated ids per FILE
// Each file's bytes are read as UTF-8 by a WHATWG decoder (TextDecoder: an invalid sequence
// becomes U+FFFD). The package's encode() grows its output with Array.concat, quadratic in the
// text's length (tiny shakespeare takes minutes), so a file is encoded in pieces cut at every
// "\n" that has a non-space on both sides: there the pattern always makes "\n" a chunk of its
// own, with or without the text after it (no look-behind; the look-ahead of \s+(?!\S) sees a
// non-space either way). --whole encodes in one call; the test checks both agree on a prefix.
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
const encoder = require(path.join(path.resolve(args.shift()), 'node_modules', 'gpt-3-encoder'));
const whole = args[0] === '--whole';
if (whole) args.shift();

function encodeInPieces(text) {
  const ids = [];
  const cut = /(?<=\S)\n(?=\S)/g;
  let start = 0;
  for (let m; (m = cut.exec(text)) !== null; start = m.index + 1)
    for (const id of encoder.encode(text.slice(start, m.index + 1))) ids.push(id);
  for (const id of encoder.encode(text.slice(start))) ids.push(id);
  return ids;
}

const out = [];
for (const file of args) {
  const text = new TextDecoder('utf-8').decode(fs.readFileSync(file));
  const ids = whole ? encoder.encode(text) : encodeInPieces(text);
  if (ids.some(id => typeof id !== 'number')) throw new Error(`${file}: the reference produced a non-id`);
  out.push(ids.join(' '));
}
process.stdout.write(out.join('\n') + '\n');
