// Compares playcount's output with DuckDB's (or another peer's) for the same input.
//
// usage: node compare.mjs PLAYCOUNT_OUT.csv DUCKDB_OUT.csv [--input IN.csv] [--peer NAME] [--fingerprint]
//
// --peer names the second file's program in the messages (default: duckdb); peers.sh
// passes polars, pandas, old-service.
//
// Both files are parsed as RFC 4180 CSV (quoted fields, doubled quotes, CRLF or LF),
// so a song name that one writer quotes and the other does not still compares equal.
// Checks, in this order:
//   1. both headers are `Song,Date,Total Number of Plays for Date`;
//   2. the two files hold the same (song, date, total) rows, each (song, date) once
//      (totals compared as integers, so `007` equals `7`);
//   3. playcount's own order: each song's rows are contiguous, dates strictly ascending
//      within a song; with --input, songs also follow their order of first appearance
//      in IN.csv (this reads the whole input: seconds per GB; the Song column is found by
//      its header name, so it need not be the first).
// --fingerprint: for results of tens of millions of rows, which would not fit in node's heap
// as maps: step 2 compares the row counts and an order-independent hash of the rows (sums of
// two 32-bit hashes of each `song,date,total`) instead, in constant memory. A difference is
// then reported without examples. Each (song, date) once still holds: playcount's rows are
// checked to be contiguous per song with dates strictly ascending, so its file has no repeated
// pair, and the peer's multiset of rows equals it.
// Exit status 0 when everything agrees, 1 on a difference (a few examples are printed),
// 2 on a usage or I/O error.
import fs from 'node:fs';

const HEADER = ['Song', 'Date', 'Total Number of Plays for Date'];
const MAX_EXAMPLES = 10;

// Parses one complete record (quotes balanced) into its fields.
function parseRecord(rec) {
  if (rec.indexOf('"') < 0) return rec.split(',');
  const fields = [];
  let i = 0;
  const n = rec.length;
  for (;;) {
    let field = '';
    if (rec.charCodeAt(i) === 34) { // quoted field
      i++;
      for (;;) {
        const q = rec.indexOf('"', i);
        if (q < 0) throw new Error(`unterminated quoted field in record: ${rec}`);
        field += rec.slice(i, q);
        if (rec.charCodeAt(q + 1) === 34) { field += '"'; i = q + 2; continue; }
        i = q + 1;
        break;
      }
      // Lenient: text between the closing quote and the next comma is kept.
      const c = rec.indexOf(',', i);
      const end = c < 0 ? n : c;
      field += rec.slice(i, end);
      i = end;
    } else {
      const c = rec.indexOf(',', i);
      const end = c < 0 ? n : c;
      field = rec.slice(i, end);
      i = end;
    }
    fields.push(field);
    if (i >= n) return fields;
    i++; // skip the comma
    if (i === n) { fields.push(''); return fields; }
  }
}

function countQuotes(s) {
  let k = 0;
  for (let p = s.indexOf('"'); p >= 0; p = s.indexOf('"', p + 1)) k++;
  return k;
}

// Streams the records of a CSV file; onRecord(recordText, lineNo) gets each complete
// record (a quoted field may span lines) without its line terminator.
async function forEachRecord(path, onRecord) {
  const stream = fs.createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 22 });
  let tail = '';
  let pending = null; // a record whose quotes are still open
  let pendingQuotes = 0;
  let lineNo = 0;
  const line = (l) => {
    lineNo++;
    if (l.length && l.charCodeAt(l.length - 1) === 13) l = l.slice(0, -1);
    if (pending !== null) {
      pending += '\n' + l;
      pendingQuotes += countQuotes(l);
      if (pendingQuotes % 2 === 0) { const r = pending; pending = null; onRecord(r, lineNo); }
      return;
    }
    if (l.indexOf('"') >= 0) {
      const q = countQuotes(l);
      if (q % 2 === 1) { pending = l; pendingQuotes = q; return; }
    }
    onRecord(l, lineNo);
  };
  for await (const chunk of stream) {
    let s = tail + chunk;
    let start = 0;
    for (let nl = s.indexOf('\n'); nl >= 0; nl = s.indexOf('\n', start)) {
      line(s.slice(start, nl));
      start = nl + 1;
    }
    tail = s.slice(start);
  }
  if (tail.length) line(tail);
  if (pending !== null) throw new Error(`${path}: unterminated quoted field at end of file`);
}

// Reads an output file: header check, then rows as Map song -> Map date -> total
// (total normalised: `007` and `+7` read as `7`). A (song, date) pair seen twice is a problem.
const CANON_INT = /^(0|-?[1-9]\d*)$/;
const ANY_INT = /^\s*[+-]?\d+\s*$/;
// Adds two 32-bit hashes (FNV-1a and a variant) of `song,date,total` (the unquoted fields
// joined by commas: a date and a canonical total hold none, so the split is unambiguous)
// into the fingerprint fp.
function addRowHash(fp, s) {
  let a = 0x811c9dc5 | 0, b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  a ^= a >>> 16; a = Math.imul(a, 0x85ebca6b); a ^= a >>> 13;
  fp.a = (fp.a + (a >>> 0)) >>> 0;
  fp.b = (fp.b + (b >>> 0)) >>> 0;
}

async function readOutput(path, label, onRow, fingerprint = false) {
  const rows = new Map();
  const fp = { a: 0, b: 0 };
  let header = null;
  let nrows = 0;
  let bad = 0, dups = 0;
  await forEachRecord(path, (rec, lineNo) => {
    if (header === null) { header = parseRecord(rec); return; }
    if (rec === '') return; // a trailing empty line
    if (fingerprint && rec.indexOf('"') < 0) { // fast path: an unquoted row is its own canonical form
      const c1 = rec.indexOf(','), c2 = c1 < 0 ? -1 : rec.indexOf(',', c1 + 1);
      if (c2 > 0 && rec.indexOf(',', c2 + 1) < 0 && CANON_INT.test(rec.slice(c2 + 1))) {
        nrows++;
        addRowHash(fp, rec);
        if (onRow) onRow(rec.slice(0, c1), rec.slice(c1 + 1, c2), lineNo);
        return;
      }
    }
    const f = parseRecord(rec);
    let total = f.length === 3 ? f[2] : '';
    if (!CANON_INT.test(total)) {
      if (f.length !== 3 || !ANY_INT.test(total)) {
        if (bad++ < MAX_EXAMPLES) console.error(`${label}: line ${lineNo}: malformed row: ${rec}`);
        return;
      }
      total = BigInt(total.trim()).toString();
    }
    nrows++;
    if (fingerprint) {
      addRowHash(fp, `${f[0]},${f[1]},${total}`);
      if (onRow) onRow(f[0], f[1], lineNo);
      return;
    }
    let dates = rows.get(f[0]);
    if (dates === undefined) rows.set(f[0], dates = new Map());
    if (dates.has(f[1])) {
      if (dups++ < MAX_EXAMPLES) console.error(`${label}: line ${lineNo}: second row for (${JSON.stringify(f[0])}, ${f[1]})`);
    } else {
      dates.set(f[1], total);
    }
    if (onRow) onRow(f[0], f[1], lineNo);
  });
  const problems = [];
  if (header === null) problems.push(`${label}: empty file (no header)`);
  else if (header.length !== 3 || header.some((h, i) => h !== HEADER[i]))
    problems.push(`${label}: header is ${JSON.stringify(header)}, expected ${JSON.stringify(HEADER)}`);
  if (bad) problems.push(`${label}: ${bad} malformed row(s)`);
  if (dups) problems.push(`${label}: ${dups} repeated (song, date) pair(s)`);
  return { rows, nrows, problems, fp };
}

// First-appearance order of songs in the input file (the column named Song in the header).
async function songOrder(path) {
  const order = new Map();
  let column = -1;
  await forEachRecord(path, (rec) => {
    if (rec === '') return;
    if (column < 0) {
      if (rec.charCodeAt(0) === 0xfeff) rec = rec.slice(1);
      column = parseRecord(rec).findIndex((name) => name.trim() === 'Song');
      if (column < 0) throw new Error(`${path}: no Song column in the header`);
      return;
    }
    let song;
    if (column > 0) {
      song = parseRecord(rec)[column];
    } else if (rec.charCodeAt(0) !== 34) {
      const c = rec.indexOf(',');
      song = c < 0 ? rec : rec.slice(0, c);
    } else {
      song = parseRecord(rec)[0];
    }
    if (!order.has(song)) order.set(song, order.size);
  });
  return order;
}

async function main() {
  const args = process.argv.slice(2);
  let input = null;
  let peer = 'duckdb';
  let fingerprint = false;
  const files = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--input') input = args[++i];
    else if (args[i] === '--peer') peer = args[++i];
    else if (args[i] === '--fingerprint') fingerprint = true;
    else files.push(args[i]);
  }
  if (files.length !== 2 || (args.includes('--input') && !input) || !peer) {
    console.error('usage: node compare.mjs PLAYCOUNT_OUT.csv DUCKDB_OUT.csv [--input IN.csv] [--peer NAME] [--fingerprint]');
    process.exit(2);
  }
  const [actualPath, expectedPath] = files;
  const problems = [];

  // Order of the playcount file, checked while it is read.
  const order = input ? await songOrder(input) : null;
  let prevSong = null, prevDate = null, prevRank = -1;
  const seenSongs = new Set();
  let orderErrors = 0;
  const orderProblem = (msg) => { if (orderErrors++ < MAX_EXAMPLES) console.error(`playcount: ${msg}`); };
  const onRow = (song, date, lineNo) => {
    if (song === prevSong) {
      if (!(date > prevDate)) orderProblem(`line ${lineNo}: date ${date} not after ${prevDate} for ${JSON.stringify(song)}`);
    } else {
      if (seenSongs.has(song)) orderProblem(`line ${lineNo}: rows of ${JSON.stringify(song)} are not contiguous`);
      seenSongs.add(song);
      if (order) {
        const rank = order.get(song);
        if (rank === undefined) orderProblem(`line ${lineNo}: song ${JSON.stringify(song)} is not in the input`);
        else if (rank < prevRank) orderProblem(`line ${lineNo}: song ${JSON.stringify(song)} (first seen as #${rank + 1}) comes after #${prevRank + 1}`);
        else prevRank = rank;
      }
    }
    prevSong = song; prevDate = date;
  };

  const a = await readOutput(actualPath, 'playcount', onRow, fingerprint);
  const e = await readOutput(expectedPath, peer, null, fingerprint);
  problems.push(...a.problems, ...e.problems);
  if (orderErrors) problems.push(`playcount: ${orderErrors} ordering error(s)`);
  if (order && seenSongs.size !== order.size)
    problems.push(`playcount: ${seenSongs.size} songs in the output, ${order.size} in the input`);

  // Row difference (each (song, date) appears once in a valid file, so sets of
  // (song, date) -> total suffice).
  const diff = (x, y) => { // rows of x that y lacks or has with another total
    const out = [];
    for (const [song, dates] of x.rows) {
      const other = y.rows.get(song);
      for (const [date, total] of dates) {
        const t = other === undefined ? undefined : other.get(date);
        if (t !== total) out.push({ song, date, total, other: t });
      }
    }
    return out;
  };
  if (fingerprint) {
    if (a.nrows !== e.nrows || a.fp.a !== e.fp.a || a.fp.b !== e.fp.b)
      problems.push(`rows differ: ${a.nrows} rows in playcount's output, ${e.nrows} in the ${peer} output` +
        (a.nrows === e.nrows ? ', and their fingerprints differ' : '') +
        ' (compare without --fingerprint, if it fits in memory, for examples)');
  }
  const onlyE = fingerprint ? [] : diff(e, a), onlyA = fingerprint ? [] : diff(a, e).filter((r) => r.other === undefined);
  if (onlyE.length || onlyA.length) {
    const wrong = onlyE.filter((r) => r.other !== undefined).length;
    problems.push(`rows differ: ${wrong} total(s) differ, ${onlyE.length - wrong} (song, date) only in the ${peer} output, ` +
      `${onlyA.length} only in playcount's`);
    const show = (r) => `(${JSON.stringify(r.song)}, ${r.date})`;
    for (const r of onlyE.slice(0, MAX_EXAMPLES))
      console.error(r.other === undefined ? `  only in ${peer}: ${show(r)} total ${r.total}`
        : `  total differs:     ${show(r)} ${peer} ${r.total}, playcount ${r.other}`);
    for (const r of onlyA.slice(0, MAX_EXAMPLES)) console.error(`  only in playcount: ${show(r)} total ${r.total}`);
  }

  if (problems.length) {
    for (const p of problems) console.error(`MISMATCH ${p}`);
    process.exit(1);
  }
  console.log(`results agree${fingerprint ? ' (row count and fingerprint)' : ''}: ${a.nrows} rows (${seenSongs.size} songs)` +
    (order ? `, playcount order checked against ${input}` : ', playcount order checked (contiguous songs, ascending dates)'));
}

main().catch((err) => { console.error(`compare.mjs: ${err.message}`); process.exit(2); });
