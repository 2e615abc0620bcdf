// Polars as a peer: the same totals per (song, date), ordered by song name then date.
// usage: node polars_groupby.mjs IN.csv OUT.csv
// npm package nodejs-polars (pinned in package.json; its native binary comes as the optional
// dependency nodejs-polars-linux-x64-gnu). Polars uses all cores (POLARS_MAX_THREADS to change).
// The CSV is read eagerly with a fixed schema (no type inference), grouped on (Song, Date),
// summed, sorted and written with Polars' own CSV writer (it quotes only where needed).
import pl from 'nodejs-polars';

const [,, input, output] = process.argv;
if (!input || !output) {
  console.error('usage: node polars_groupby.mjs IN.csv OUT.csv');
  process.exit(2);
}
const df = pl.readCSV(input, {
  hasHeader: true,
  schema: { 'Song': pl.Utf8, 'Date': pl.Date, 'Number of Plays': pl.Int64 },
});
df.groupBy('Song', 'Date')
  .agg(pl.col('Number of Plays').sum().alias('Total Number of Plays for Date'))
  .sort(['Song', 'Date'])
  .writeCSV(output);
