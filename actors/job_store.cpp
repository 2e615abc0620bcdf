#include "actors/job_store.hpp"

#include "core/write_all.hpp"

#include <boost/json.hpp>
#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid_io.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace playcount {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::string errno_text() {
  return std::strerror(errno);
}

// Leftovers of writes that never reached their rename.
bool is_leftover(const std::string& name) {
  return name.size() >= 4 && (name.compare(name.size() - 4, 4, ".tmp") == 0 ||
                              name.find(".partial-") != std::string::npos);
}

} // namespace

std::string jobs_dir(const std::string& data_dir) {
  return (fs::path(data_dir) / "jobs").string();
}

job_paths paths_for(const std::string& data_dir, const std::string& id) {
  const fs::path dir = fs::path(jobs_dir(data_dir)) / id;
  return {dir.string(), (dir / "job.json").string(),
          (dir / "input.csv").string(), (dir / "result.csv").string()};
}

bool is_job_id(std::string_view text) noexcept {
  if (text.size() != 36)
    return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-')
        return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  // Version 4, RFC 4122 variant.
  return text[14] == '4' && (text[19] == '8' || text[19] == '9' ||
                             text[19] == 'a' || text[19] == 'b');
}

std::string make_job_id() {
  // random_generator is not thread-safe: one per call (it holds no state
  // worth keeping; each id reads fresh OS entropy).
  boost::uuids::random_generator generate;
  return boost::uuids::to_string(generate());
}

std::string record_to_json(const job_record& r) {
  json::array first_bad;
  for (const auto& line : r.first_bad)
    first_bad.emplace_back(line);
  json::object o;
  o["id"] = r.id;
  o["state"] = to_string(r.state);
  o["file_name"] = r.file_name;
  o["skip_bad_rows"] = r.skip_bad_rows;
  o["bytes_total"] = r.bytes_total;
  o["bytes_done"] = r.bytes_done;
  o["rows"] = r.rows;
  o["groups"] = r.groups;
  o["bad_rows"] = r.bad_rows;
  o["first_bad"] = std::move(first_bad);
  o["error"] = r.error;
  o["created_at"] = r.created_at;
  o["started_at"] = r.started_at;
  o["finished_at"] = r.finished_at;
  o["scan_seconds"] = r.scan_seconds;
  o["read_seconds"] = r.read_seconds;
  o["merge_seconds"] = r.merge_seconds;
  o["write_seconds"] = r.write_seconds;
  return json::serialize(o) + "\n";
}

bool parse_record(std::string_view text, job_record& r, std::string& error) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) {
    error = "not JSON: " + ec.message();
    return false;
  }
  const json::object* o = v.if_object();
  if (o == nullptr) {
    error = "not a JSON object";
    return false;
  }
  job_record out;
  const auto str = [&](const char* key, std::string& into) {
    const json::value* x = o->if_contains(key);
    if (x == nullptr || !x->is_string())
      return false;
    into = std::string(x->get_string());
    return true;
  };
  const auto u64 = [&](const char* key, uint64_t& into) {
    const json::value* x = o->if_contains(key);
    if (x == nullptr)
      return false;
    if (x->is_uint64())
      into = x->get_uint64();
    else if (x->is_int64() && x->get_int64() >= 0)
      into = static_cast<uint64_t>(x->get_int64());
    else
      return false;
    return true;
  };
  const auto i64 = [&](const char* key, int64_t& into) {
    const json::value* x = o->if_contains(key);
    if (x == nullptr || !x->is_int64())
      return false;
    into = x->get_int64();
    return true;
  };
  std::string state;
  const json::value* skip = o->if_contains("skip_bad_rows");
  const json::value* first_bad = o->if_contains("first_bad");
  const bool ok =
      str("id", out.id) && str("state", state) &&
      from_string(state, out.state) && str("file_name", out.file_name) &&
      skip != nullptr && skip->is_bool() &&
      u64("bytes_total", out.bytes_total) &&
      u64("bytes_done", out.bytes_done) && u64("rows", out.rows) &&
      u64("groups", out.groups) && u64("bad_rows", out.bad_rows) &&
      first_bad != nullptr && first_bad->is_array() &&
      str("error", out.error) && i64("created_at", out.created_at) &&
      i64("started_at", out.started_at) && i64("finished_at", out.finished_at);
  if (!ok) {
    error = "a field is missing or has the wrong type";
    return false;
  }
  out.skip_bad_rows = skip->get_bool();
  // Phase times came later: a record without them is still good.
  for (auto [key, into] : {std::pair{"scan_seconds", &out.scan_seconds},
                           std::pair{"read_seconds", &out.read_seconds},
                           std::pair{"merge_seconds", &out.merge_seconds},
                           std::pair{"write_seconds", &out.write_seconds}})
    if (const json::value* x = o->if_contains(key); x != nullptr && x->is_number())
      *into = x->to_number<double>();
  for (const json::value& line : first_bad->get_array()) {
    if (!line.is_string()) {
      error = "first_bad holds a non-string";
      return false;
    }
    out.first_bad.emplace_back(line.get_string());
  }
  r = std::move(out);
  return true;
}

bool sync_dir(const std::string& dir, std::string& error) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot open " + dir + ": " + errno_text();
    return false;
  }
  const bool ok = ::fsync(fd) == 0;
  if (!ok)
    error = "cannot flush " + dir + ": " + errno_text();
  ::close(fd);
  return ok;
}

bool save_record(const job_paths& paths, const job_record& record,
                 std::string& error) {
  const std::string tmp = paths.record + ".tmp";
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "cannot create " + tmp + ": " + errno_text();
    return false;
  }
  if (!write_all(fd, record_to_json(record)) || ::fsync(fd) != 0) {
    error = "cannot write " + tmp + ": " + errno_text();
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  }
  if (::close(fd) != 0 || std::rename(tmp.c_str(), paths.record.c_str()) != 0) {
    error = "cannot replace " + paths.record + ": " + errno_text();
    ::unlink(tmp.c_str());
    return false;
  }
  return sync_dir(paths.dir, error);
}

bool load_jobs(const std::string& data_dir, stored_jobs& out,
               std::string& error) {
  std::error_code ec;
  const fs::path root = jobs_dir(data_dir);
  fs::create_directories(root, ec);
  if (ec) {
    error = "cannot create " + root.string() + ": " + ec.message();
    return false;
  }
  for (fs::directory_iterator it(root, ec), end; !ec && it != end;
       it.increment(ec)) {
    const fs::path dir = it->path();
    const std::string name = dir.filename().string();
    const job_paths paths = paths_for(data_dir, name);
    job_record record;
    std::string why;
    bool keep = is_job_id(name) && it->is_directory();
    if (keep) {
      std::ifstream in(paths.record, std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      keep = in.good() || in.eof();
      keep = keep && parse_record(text.str(), record, why) && record.id == name;
    }
    if (!keep) {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
      out.removed.push_back(dir.string());
      continue;
    }
    std::error_code inner;
    for (fs::directory_iterator f(dir, inner), fend; !inner && f != fend;
         f.increment(inner))
      if (is_leftover(f->path().filename().string())) {
        std::error_code ignored;
        fs::remove(f->path(), ignored);
      }
    out.records.push_back(std::move(record));
  }
  if (ec) {
    error = "cannot read " + root.string() + ": " + ec.message();
    return false;
  }
  std::stable_sort(out.records.begin(), out.records.end(),
                   [](const job_record& a, const job_record& b) {
                     return a.created_at < b.created_at;
                   });
  return true;
}

bool remove_job_files(const job_paths& paths, std::string& error) {
  // Renamed first, in one atomic step: a crash while the files go leaves a
  // directory not named like a job (removed at the next start), never a
  // job.json whose result or input is half gone.
  std::string dir = paths.dir + ".removing";
  if (std::rename(paths.dir.c_str(), dir.c_str()) != 0) {
    if (errno == ENOENT)
      return true;
    dir = paths.dir; // remove in place, as well as it goes
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) {
    error = "cannot remove " + dir + ": " + ec.message();
    return false;
  }
  return true;
}

bool remove_file(const std::string& path, std::string& error) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    error = "cannot remove " + path + ": " + errno_text();
    return false;
  }
  return true;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace playcount
