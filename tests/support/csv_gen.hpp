#pragma once

// Random song-play CSV files that exercise the hard cases: quoted names with
// commas, doubled quotes, LF and CRLF inside, CRLF line ends, a BOM, empty
// lines, extra columns, and no final line end.

#include "core/fields.hpp"

#include <cstdint>
#include <random>
#include <string>

namespace playcount::test {

struct csv_shape {
  size_t rows = 1000;
  size_t songs = 50;
  int days = 40;
  bool crlf = false;
  bool bom = false;
  bool final_newline = true;
  bool empty_lines = false;
  bool extra_column = false;
  uint32_t seed = 1;
};

inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos)
    return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"')
      out += '"';
    out += c;
  }
  return out + "\"";
}

inline std::string song_name(size_t i) {
  switch (i % 5) {
  case 0:
    return "Song " + std::to_string(i);
  case 1:
    return "Song " + std::to_string(i) + ", \"Live\"";
  case 2:
    return "Multi\nline " + std::to_string(i);
  case 3:
    return "Cr\r\nlf " + std::to_string(i);
  default:
    return "plain-" + std::to_string(i) + " ";
  }
}

inline std::string make_csv(const csv_shape& shape) {
  std::mt19937 rng(shape.seed);
  const std::string eol = shape.crlf ? "\r\n" : "\n";
  std::string out = shape.bom ? "\xEF\xBB\xBF" : "";
  out += shape.extra_column ? "Date,Extra,Number of Plays,Song"
                            : "Song,Date,Number of Plays";
  out += eol;
  for (size_t r = 0; r < shape.rows; ++r) {
    const std::string song = csv_field(song_name(rng() % shape.songs));
    const std::string date =
        format_date(18000 + static_cast<int>(rng() % shape.days));
    const std::string count = std::to_string(rng() % 5000);
    if (shape.extra_column)
      out += date + ",\"x,y\"," + count + "," + song;
    else
      out += song + "," + date + "," + count;
    if (r + 1 < shape.rows || shape.final_newline)
      out += eol;
    if (shape.empty_lines && rng() % 17 == 0 && r + 1 < shape.rows)
      out += eol;
  }
  return out;
}

} // namespace playcount::test
