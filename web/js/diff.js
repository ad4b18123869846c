// Word-level differences between two texts, for the before and after
// views: removed words are marked in the old text and added words in the
// new one.

import { h } from "./ui.js";

// Above this many token pairs the texts are shown without marks, because
// the table of the longest common subsequence would grow too large.
const CELLS_MAX = 4_000_000;

// Splits text into words and the whitespace or punctuation between them,
// so that joining the tokens gives the text back.
function tokenize(text) {
  return String(text || "").match(/[\p{L}\p{N}_'’-]+|\s+|[^\p{L}\p{N}_\s]/gu) || [];
}

// Marks each token of a and b as kept (true) or changed (false), by the
// longest common subsequence of the two token lists.
function commonTokens(a, b) {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const table = new Uint32Array(rows * cols);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      table[i * cols + j] =
        a[i] === b[j]
          ? table[(i + 1) * cols + j + 1] + 1
          : Math.max(table[(i + 1) * cols + j], table[i * cols + j + 1]);
    }
  }
  const keptA = new Array(a.length).fill(false);
  const keptB = new Array(b.length).fill(false);
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      keptA[i++] = true;
      keptB[j++] = true;
    } else if (table[(i + 1) * cols + j] >= table[i * cols + j + 1]) {
      i++;
    } else {
      j++;
    }
  }
  return { keptA, keptB };
}

// Builds a node list from tokens, wrapping runs of changed words in tag.
function marked(tokens, kept, tag) {
  const nodes = [];
  let run = "";
  let runChanged = false;
  const flush = () => {
    if (!run) return;
    nodes.push(runChanged ? h(tag, {}, run) : document.createTextNode(run));
    run = "";
  };
  tokens.forEach((token, index) => {
    // Changed whitespace takes the state of the run it follows, so that
    // two changed words around it form one mark.
    const isSpace = /^\s+$/.test(token);
    const changed = kept[index] ? false : isSpace ? runChanged : true;
    if (changed !== runChanged) flush();
    runChanged = changed;
    run += token;
  });
  flush();
  return nodes;
}

// Returns {before, after, changed}: node lists for the two texts with
// removed words in <del> and added words in <ins>.
export function wordDiff(oldText, newText) {
  const a = tokenize(oldText);
  const b = tokenize(newText);
  if (a.length * b.length > CELLS_MAX) {
    return {
      before: [document.createTextNode(oldText || "")],
      after: [document.createTextNode(newText || "")],
      changed: oldText !== newText,
    };
  }
  const { keptA, keptB } = commonTokens(a, b);
  return {
    before: marked(a, keptA, "del"),
    after: marked(b, keptB, "ins"),
    changed: keptA.includes(false) || keptB.includes(false),
  };
}
