// Play-log generator for bench/shapes.sh: the shapes of play log that real
// exports have.
//
// usage: shapes SHAPE [ROWS [SEED]] > file.csv
//        shapes --list            one line per shape: NAME FULL_ROWS
//        DESCRIPTION
//
// ROWS 0 or absent: the full size (about 1 GB). Fewer rows scale the number of
// songs down in proportion (except `tiny`, whose 40 songs x 10 days are its
// point), so a small file keeps the shape's groups-per-row ratio. The output
// depends only on SHAPE, ROWS and SEED.
//
// Shapes (README.md in this folder says why a real log looks like each):
//   millions   2 M songs, one year, 30 M rows: most (song, date) pairs seen
//   once wide       8 columns, the three needed ones not first; names like
//              `Artist 12 - Title 123 (Remastered 2011)`; 100 k songs,
//              Zipf-like popularity, 3 years
//   quoted     UTF-8 BOM, every field quoted, CRLF line ends; 20 k songs, one
//   year daily      dates ascending through the file; 50 k songs, 2 years tiny
//   40 songs x 10 days longnames  names of 100-200 bytes with commas, doubled
//   quotes and UTF-8; 50 k songs, one year sparse     3 M songs, each played on
//   three days years apart (2012-2022)
// (The benchmark file of bench/run.sh comes from bench/gen.c.)
//
// Fast: one output buffer, hand-made integer formatting, dates and names
// formatted once.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// --- output
// -------------------------------------------------------------------------------
static char out_buf[1 << 20];
static size_t out_len;
static void flush_out(void) {
  if (out_len && fwrite(out_buf, 1, out_len, stdout) != out_len) {
    perror("shapes: write");
    exit(1);
  }
  out_len = 0;
}
// Every row is far below 4 KiB, so one check per row keeps the puts below
// unchecked.
static void room(void) {
  if (out_len > sizeof out_buf - 4096)
    flush_out();
}
static void put(const char* s, size_t n) {
  memcpy(out_buf + out_len, s, n);
  out_len += n;
}
static void put_s(const char* s) {
  put(s, strlen(s));
}
static void put_c(char c) {
  out_buf[out_len++] = c;
}
static void put_u(uint64_t v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n)
    out_buf[out_len++] = tmp[--n];
}

// --- random numbers (splitmix64: deterministic, fast)
// --------------------------------------
static uint64_t rng_state;
static uint64_t rnd(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// Uniform in [0, n).
static uint64_t below(uint64_t n) {
  return (uint64_t)(((unsigned __int128)rnd() * n) >> 64);
}
// A fixed hash of a number, for per-song properties that must not depend on
// draw order.
static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ull;
  return x ^ (x >> 33);
}

// --- dates
// ----------------------------------------------------------------------------------
static char (*dates)[10]; // day number -> "YYYY-MM-DD" (no terminator)
static void make_dates(int first_year, int days) {
  static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  dates = malloc((size_t)days * 10);
  int y = first_year, m = 0, d = 0;
  for (int i = 0; i < days; i++) {
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02d", y, m + 1, d + 1);
    memcpy(dates[i], tmp, 10);
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (++d == mdays[m] + (m == 1 && leap)) {
      d = 0;
      if (++m == 12)
        m = 0, y++;
    }
  }
}
static void put_date(int day) {
  put(dates[day], 10);
}

// --- song names formatted once: an arena of (offset, length)
// -------------------------------
static char* arena;
static size_t arena_len, arena_cap;
typedef struct {
  uint32_t off, len;
} name_ref;
static name_ref* names;
static void arena_add(const char* s, size_t n) {
  if (arena_len + n > arena_cap) {
    arena_cap = (arena_cap + n) * 2;
    arena = realloc(arena, arena_cap);
    if (!arena) {
      perror("shapes: realloc");
      exit(1);
    }
  }
  memcpy(arena + arena_len, s, n);
  arena_len += n;
}
static void add_name(uint64_t song, const char* s, size_t n) {
  names[song].off = (uint32_t)arena_len;
  names[song].len = (uint32_t)n;
  arena_add(s, n);
}
static void put_name(uint64_t song) {
  put(arena + names[song].off, names[song].len);
}
// Rows are made in batches: draw the batch's songs, then fetch their names
// ahead of use, so that the cache misses of 100 k random names overlap instead
// of costing ~200 ns per row.
enum { batch = 256 };
static void prefetch_names(const uint64_t* song, int n) {
  for (int k = 0; k < n; k++)
    __builtin_prefetch(&names[song[k]]);
  for (int k = 0; k < n; k++) {
    const char* p = arena + names[song[k]].off;
    __builtin_prefetch(p);
    __builtin_prefetch(p + 64);
    __builtin_prefetch(p + names[song[k]].len - 1);
  }
}

// --- shapes
// -----------------------------------------------------------------------------------
typedef struct {
  const char* name;
  long full_rows;
  long full_songs;
  int scale_songs; // 0: the song count stays whatever the rows
  const char* about;
} shape_t;

static const shape_t shapes[] = {
    {"millions", 30000000, 2000000, 1,
     "2 M songs over one year, 30 M rows: most (song, date) pairs seen once"},
    {"wide", 13000000, 100000, 1,
     "8 columns (ids, artist, country, device around the three), names like "
     "'Artist 12 - Title 123 "
     "(Remastered 2011)', 100 k songs, Zipf-like popularity, 3 years"},
    {"quoted", 34000000, 20000, 1,
     "BOM, every field quoted, CRLF line ends; 20 k songs over one year"},
    {"daily", 45000000, 50000, 1,
     "a daily log: dates ascending through the file, 50 k songs over 2 years"},
    {"tiny", 43000000, 40, 0, "40 songs x 10 days"},
    {"longnames", 6300000, 50000, 1,
     "names of 100-200 bytes with commas, doubled quotes and UTF-8; 50 k songs "
     "over one year"},
    {"sparse", 42000000, 3000000, 1,
     "3 M songs, each played on three days years apart"},
};
enum { n_shapes = sizeof shapes / sizeof shapes[0] };

// Plays per row of an aggregated log: mostly small, sometimes large.
static uint64_t plays(void) {
  uint64_t r = rnd();
  return (r & 15) == 0 ? (r >> 8) % 5000 : 1 + (r >> 8) % 4;
}

static void gen_plain(long rows, long songs, int days) {
  put_s("Song,Date,Number of Plays\n");
  for (long i = 0; i < rows; i++) {
    room();
    uint64_t song = below((uint64_t)songs);
    int day = (int)below((uint64_t)days);
    put_s("Song ");
    put_u(song);
    put_c(',');
    put_date(day);
    put_c(',');
    put_u(rnd() % 5000);
    put_c('\n');
  }
}

static void gen_quoted(long rows, long songs, int days) {
  put_s("\xEF\xBB\xBF\"Song\",\"Date\",\"Number of Plays\"\r\n");
  for (long i = 0; i < rows; i++) {
    room();
    uint64_t song = below((uint64_t)songs);
    int day = (int)below((uint64_t)days);
    put_s("\"Song ");
    put_u(song);
    // 5 % of the songs hold a comma and a doubled quote, as in bench/gen.c.
    if (song % 100 < 5)
      put_s(", \"\"Live\"\"");
    put_s("\",\"");
    put_date(day);
    put_s("\",\"");
    put_u(plays());
    put_s("\"\r\n");
  }
}

static void gen_daily(long rows, long songs, int days) {
  put_s("Song,Date,Number of Plays\n");
  for (int day = 0; day < days; day++) {
    long n = rows / days + (day < rows % days);
    for (long i = 0; i < n; i++) {
      room();
      put_s("Song ");
      put_u(below((uint64_t)songs));
      put_c(',');
      put_date(day);
      put_c(',');
      put_u(plays());
      put_c('\n');
    }
  }
}

static void gen_sparse(long rows, long songs) {
  // 2012-01-01 + 4046 days: 11 years. Each song's three days are fixed by its
  // number: one in its first year, one four years on, one eight years on.
  put_s("Song,Date,Number of Plays\n");
  for (long i = 0; i < rows; i++) {
    room();
    uint64_t song = below((uint64_t)songs);
    uint64_t h = mix(song + 1);
    int first = (int)(h % 1095), which = (int)below(3);
    int day = first + which * 1461 + (int)((h >> 20) % 30);
    put_s("Song ");
    put_u(song);
    put_c(',');
    put_date(day);
    put_c(',');
    put_u(plays());
    put_c('\n');
  }
}

// Zipf-like popularity: song of rank r (1-based) drawn with weight 1 / r^s, by
// Vose's alias method (one table slot per draw: a search over cumulative
// weights misses the cache at every step). Ranks map to song numbers through a
// fixed permutation, so the popular songs are scattered over the names. One
// slot per draw, in one cache line: keep `own` with probability `prob`, else
// `alias`.
typedef struct {
  float prob;
  uint32_t own, alias;
} alias_slot;
static alias_slot* slots;
static void make_zipf(long songs, double s) {
  double *w = malloc((size_t)songs * sizeof *w), sum = 0;
  uint32_t* rank_to_song = malloc((size_t)songs * sizeof *rank_to_song);
  for (long r = 0; r < songs; r++) {
    w[r] = 1.0 / pow((double)(r + 1), s);
    sum += w[r];
    rank_to_song[r] = (uint32_t)r;
  }
  for (long i = songs - 1; i > 0; i--) { // Fisher-Yates with a fixed seed
    long j = (long)(mix((uint64_t)i) % (uint64_t)(i + 1));
    uint32_t t = rank_to_song[i];
    rank_to_song[i] = rank_to_song[j];
    rank_to_song[j] = t;
  }
  slots = malloc((size_t)songs * sizeof *slots);
  for (long i = 0; i < songs; i++)
    slots[i].own = slots[i].alias = rank_to_song[i];
  uint32_t *small = malloc((size_t)songs * sizeof *small),
           *large = malloc((size_t)songs * sizeof *large);
  long ns = 0, nl = 0;
  for (long i = 0; i < songs; i++) {
    w[i] = w[i] * (double)songs / sum;
    if (w[i] < 1.0)
      small[ns++] = (uint32_t)i;
    else
      large[nl++] = (uint32_t)i;
  }
  while (ns && nl) {
    uint32_t a = small[--ns], b = large[nl - 1];
    slots[a].prob = (float)w[a];
    slots[a].alias = rank_to_song[b];
    w[b] -= 1.0 - w[a];
    if (w[b] < 1.0)
      nl--, small[ns++] = b;
  }
  while (nl)
    slots[large[--nl]].prob = 2.0f;
  while (ns)
    slots[small[--ns]].prob = 2.0f; // rounding leftovers
  free(small);
  free(large);
  free(rank_to_song);
  free(w);
}
// A batch of n draws: slots fetched ahead, then resolved.
static void zipf_draw(long songs, uint64_t* song, int n) {
  uint64_t x[batch];
  for (int k = 0; k < n; k++) {
    x[k] = rnd();
    __builtin_prefetch(
        &slots[((unsigned __int128)x[k] * (uint64_t)songs) >> 64]);
  }
  for (int k = 0; k < n; k++) {
    uint64_t i = (uint64_t)(((unsigned __int128)x[k] * (uint64_t)songs) >> 64);
    // The low bits of x are independent enough of the slot (the high bits) for
    // a benchmark.
    float u = (float)(x[k] & ((1u << 24) - 1)) * 0x1p-24f;
    song[k] = u < slots[i].prob ? slots[i].own : slots[i].alias;
  }
}

static void gen_wide(long rows, long songs, int days) {
  static const char* countries[] = {"US", "GB", "DE", "FR", "BR",
                                    "JP", "SE", "MX", "IN", "NL"};
  static const char* devices[] = {"ios",     "android",       "web",
                                  "desktop", "smart_speaker", "car"};
  long artists = songs / 8 + 1;
  names = malloc((size_t)songs * sizeof *names);
  uint32_t* artist_of = malloc((size_t)songs * sizeof *artist_of);
  for (long i = 0; i < songs; i++) {
    uint64_t h = mix((uint64_t)i + 7);
    char tmp[128];
    artist_of[i] = (uint32_t)(h % (uint64_t)artists);
    int n = snprintf(tmp, sizeof tmp, "Artist %u - Title %ld", artist_of[i], i);
    switch ((h >> 32) % 10) {
    case 0:
    case 1:
      n += snprintf(tmp + n, sizeof tmp - n, " (Remastered %d)",
                    1995 + (int)((h >> 40) % 25));
      break;
    case 2:
      n += snprintf(tmp + n, sizeof tmp - n, " (Live)");
      break;
    case 3:
      n += snprintf(tmp + n, sizeof tmp - n, " - Radio Edit");
      break;
    default:
      break;
    }
    // The song's two columns as one string: one memory access per row.
    n += snprintf(tmp + n, sizeof tmp - n, ",Artist %u", artist_of[i]);
    add_name((uint64_t)i, tmp, (size_t)n);
  }
  free(artist_of);
  make_zipf(songs, 0.83); // ~8.3 M groups at full size, as in issue 11
  put_s("play_id,user_id,Song,artist,Date,country,Number of Plays,device\n");
  uint64_t song_of[batch];
  for (long i = 0; i < rows; i++) {
    if (i % batch == 0) {
      int n = rows - i < batch ? (int)(rows - i) : batch;
      zipf_draw(songs, song_of, n);
      prefetch_names(song_of, n);
    }
    uint64_t song = song_of[i % batch];
    room();
    put_u(10000000 + (uint64_t)i);
    put_c(',');
    put_u(1 + below(2000000));
    put_c(',');
    put_name(song); // Song,artist
    put_c(',');
    put_date((int)below((uint64_t)days));
    put_c(',');
    put_s(countries[below(10)]);
    put_c(',');
    put_u(plays());
    put_c(',');
    put_s(devices[below(6)]);
    put_c('\n');
  }
}

static void gen_longnames(long rows, long songs, int days) {
  // Words of real catalogues: accents, CJK, an emoji, a comma, a quoted
  // nickname.
  static const char* words[] = {"Symphony",
                                "No.",
                                "9",
                                "in",
                                "D",
                                "minor,",
                                "Op.",
                                "125",
                                "\"Choral\"",
                                "Ode",
                                "an",
                                "die",
                                "Freude",
                                "Björk",
                                "Sigur",
                                "Rós",
                                "Hafnarfjörður",
                                "Café",
                                "del",
                                "Mar",
                                "Señorita",
                                "Beyoncé",
                                "Motörhead",
                                "東京",
                                "ラプソディ",
                                "夜に駆ける",
                                "Москва",
                                "Καλημέρα",
                                "🎵",
                                "feat.",
                                "&",
                                "(Live",
                                "at",
                                "Wembley,",
                                "1986)",
                                "[Remastered]",
                                "-",
                                "Extended",
                                "Mix",
                                "Part",
                                "II",
                                "\"Unplugged\"",
                                "The",
                                "Night",
                                "We",
                                "Met",
                                "Don't",
                                "Stop",
                                "Me",
                                "Now"};
  enum { n_words = sizeof words / sizeof words[0] };
  names = malloc((size_t)songs * sizeof *names);
  for (long i = 0; i < songs; i++) {
    uint64_t h = mix((uint64_t)i + 11);
    size_t want = 100 + h % 101, n = 0;
    char raw[512];
    n = (size_t)snprintf(raw, sizeof raw, "%ld", i); // names stay distinct
    while (n < want) {
      h = mix(h);
      const char* w = words[h % n_words];
      size_t wl = strlen(w);
      if (n + 1 + wl > 200)
        break;
      raw[n++] = ' ';
      memcpy(raw + n, w, wl);
      n += wl;
    }
    while (n < 100)
      raw[n++] = '.';
    // The CSV field: quoted when it holds a comma or a quote, quotes doubled.
    char field[1100];
    size_t f = 0;
    int quote = memchr(raw, ',', n) || memchr(raw, '"', n);
    if (quote)
      field[f++] = '"';
    for (size_t k = 0; k < n; k++) {
      if (raw[k] == '"')
        field[f++] = '"';
      field[f++] = raw[k];
    }
    if (quote)
      field[f++] = '"';
    add_name((uint64_t)i, field, f);
  }
  put_s("Song,Date,Number of Plays\n");
  uint64_t song_of[batch];
  for (long i = 0; i < rows; i++) {
    if (i % batch == 0) {
      int n = rows - i < batch ? (int)(rows - i) : batch;
      for (int k = 0; k < n; k++)
        song_of[k] = below((uint64_t)songs);
      prefetch_names(song_of, n);
    }
    room();
    put_name(song_of[i % batch]);
    put_c(',');
    put_date((int)below((uint64_t)days));
    put_c(',');
    put_u(plays());
    put_c('\n');
  }
}

int main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], "--list") == 0) {
    for (int i = 0; i < n_shapes; i++)
      printf("%s %ld %s\n", shapes[i].name, shapes[i].full_rows,
             shapes[i].about);
    return 0;
  }
  const shape_t* sh = NULL;
  for (int i = 0; argc >= 2 && i < n_shapes; i++)
    if (strcmp(argv[1], shapes[i].name) == 0)
      sh = &shapes[i];
  if (!sh) {
    fprintf(stderr, "usage: shapes SHAPE [ROWS [SEED]] > file.csv   (shapes "
                    "--list: the shapes)\n");
    return 2;
  }
  long rows = argc > 2 ? atol(argv[2]) : 0;
  if (rows <= 0)
    rows = sh->full_rows;
  rng_state =
      (argc > 3 ? strtoull(argv[3], NULL, 10) : 1) * 0x2545F4914F6CDD1Dull +
      (uint64_t)(sh - shapes);
  long songs = sh->full_songs;
  if (sh->scale_songs && rows != sh->full_rows) {
    songs = (long)((double)songs * (double)rows / (double)sh->full_rows);
    if (songs < 10)
      songs = 10;
  }

  const char* name = sh->name;
  if (!strcmp(name, "millions"))
    make_dates(2020, 366), gen_plain(rows, songs, 366);
  else if (!strcmp(name, "wide"))
    make_dates(2021, 1095), gen_wide(rows, songs, 1095);
  else if (!strcmp(name, "quoted"))
    make_dates(2020, 366), gen_quoted(rows, songs, 366);
  else if (!strcmp(name, "daily"))
    make_dates(2022, 730), gen_daily(rows, songs, 730);
  else if (!strcmp(name, "tiny"))
    make_dates(2020, 10), gen_plain(rows, songs, 10);
  else if (!strcmp(name, "longnames"))
    make_dates(2020, 366), gen_longnames(rows, songs, 366);
  else if (!strcmp(name, "sparse"))
    make_dates(2012, 4046), gen_sparse(rows, songs);
  flush_out();
  if (fflush(stdout) != 0) {
    perror("shapes: write");
    return 1;
  }
  return 0;
}
