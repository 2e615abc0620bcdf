#include "actors/job_store.hpp"

#include "core/spill.hpp"

#include "core/utf8.hpp"
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
#include <limits>
#include <sys/stat.h>
#include <type_traits>
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
  return {dir.string(),
          (dir / "job.json").string(),
          (dir / "input.csv").string(),
          (dir / "result.csv").string(),
          (dir / "spill").string(),
          (dir / "summary.json").string(),
          (dir / "songs.idx").string()};
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

namespace {

// job.json's value of a field, by its type. Text is made printable UTF-8:
// names and messages may hold any bytes, job.json is valid JSON.
json::value stored(const std::string& x) {
  return json::value(printable_utf8(x));
}

json::value stored(const std::vector<std::string>& x) {
  json::array out;
  for (const auto& line : x)
    out.emplace_back(printable_utf8(line));
  return out;
}

json::value stored(job_state x) {
  return json::value(to_string(x));
}

// As the first records had it: "skip_bad_rows": true or false.
json::value stored(bad_row_policy x) {
  return json::value(x == bad_row_policy::skip);
}

template <class T>
json::value stored(const T& x) {
  static_assert(std::is_arithmetic_v<T>);
  return json::value(x);
}

// Reads a field's value from job.json. False: the value has the wrong type
// (`error` set when there is more to say than that).
bool read_stored(const json::value& x, std::string& into, std::string&) {
  if (!x.is_string())
    return false;
  // Records written before text was escaped may hold bytes that are not
  // UTF-8 (parse_record lets them through): escaped now.
  into = printable_utf8(x.get_string());
  return true;
}

bool read_stored(const json::value& x, std::vector<std::string>& into,
                 std::string& error) {
  const json::array* lines = x.if_array();
  if (lines == nullptr)
    return false;
  for (const json::value& line : *lines) {
    if (!line.is_string()) {
      error = "the field \"first_bad\" holds a non-string";
      return false;
    }
    into.push_back(printable_utf8(line.get_string()));
  }
  return true;
}

bool read_stored(const json::value& x, job_state& into, std::string& error) {
  if (!x.is_string())
    return false;
  const json::string& name = x.get_string();
  if (!from_string(name, into)) {
    error = "unknown state \"" + std::string(name) + "\"";
    return false;
  }
  return true;
}

bool read_stored(const json::value& x, bad_row_policy& into, std::string&) {
  if (!x.is_bool())
    return false;
  into = x.get_bool() ? bad_row_policy::skip : bad_row_policy::fail;
  return true;
}

bool read_stored(const json::value& x, int64_t& into, std::string&) {
  if (!x.is_int64())
    return false;
  into = x.get_int64();
  return true;
}

template <class Unsigned>
std::enable_if_t<std::is_unsigned_v<Unsigned>, bool>
read_stored(const json::value& x, Unsigned& into, std::string&) {
  uint64_t n = 0;
  if (x.is_uint64())
    n = x.get_uint64();
  else if (x.is_int64() && x.get_int64() >= 0)
    n = static_cast<uint64_t>(x.get_int64());
  else
    return false;
  if (n > std::numeric_limits<Unsigned>::max())
    return false;
  into = static_cast<Unsigned>(n);
  return true;
}

// The phase times, as they were read from the start: a value that is not a
// number leaves the time at 0 rather than the record unread.
bool read_stored(const json::value& x, double& into, std::string&) {
  if (x.is_number())
    into = x.to_number<double>();
  return true;
}

} // namespace

std::string record_to_json(const job_record& r) {
  json::object o;
  for_each_record_field([&](const auto& field) {
    using value_type = typename std::decay_t<decltype(field)>::value_type;
    // Progress is not_stored (it matters only while the job runs), and has
    // no form in job.json at all.
    if constexpr (!std::is_same_v<value_type, job_progress>) {
      if (field.has(record_flag::not_stored))
        return;
      const auto& value = r.*field.member;
      if (field.has(record_flag::omit_empty) && value == value_type{})
        return;
      o[field.key] = stored(value);
    }
  });
  return json::serialize(o) + "\n";
}

result<job_record> parse_record(std::string_view text) {
  if (text.empty())
    return failure::words("empty file");
  // Records written before names were escaped may hold raw bytes that are
  // not UTF-8: read them, then escape (below), rather than lose the job.
  json::parse_options options;
  options.allow_invalid_utf8 = true;
  json::stream_parser p({}, options);
  json::error_code ec;
  const size_t used = p.write_some(text.data(), text.size(), ec);
  if (!ec && used < text.size()) {
    // Only white space may follow the value.
    if (text.find_first_not_of(" \t\r\n", used) != std::string_view::npos)
      return failure::words("not JSON: text after the record at byte " +
                            std::to_string(used));
  }
  if (!ec && !p.done())
    p.finish(ec);
  if (ec)
    return failure::words("not JSON: " + ec.message() + " at byte " +
                          std::to_string(std::min(used, text.size())) + " of " +
                          std::to_string(text.size()));
  json::value v = p.release();
  const json::object* o = v.if_object();
  if (o == nullptr)
    return failure::words("not a JSON object");
  job_record out;
  std::string why;
  // Each field in turn, so that the message names the first one that is
  // wrong.
  for_each_record_field([&](const auto& field) {
    using value_type = typename std::decay_t<decltype(field)>::value_type;
    if constexpr (!std::is_same_v<value_type, job_progress>) {
      if (!why.empty() || field.has(record_flag::not_stored))
        return;
      const json::value* x = o->if_contains(field.key);
      if (x == nullptr && field.has(record_flag::added_later))
        return; // a record older than the field
      if (x == nullptr || !read_stored(*x, out.*field.member, why)) {
        if (why.empty())
          why = "the field \"" + std::string(field.key) +
                (x == nullptr || !field.has(record_flag::added_later)
                     ? "\" is missing or has the wrong type"
                     : "\" has the wrong type");
      }
    }
  });
  if (!why.empty())
    return failure::words(std::move(why));
  return out;
}

result<void> sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return failure::of_errno("cannot open", dir, errno);
  const bool ok = ::fsync(fd) == 0;
  const int code = errno;
  ::close(fd);
  if (!ok)
    return failure::of_errno("cannot flush", dir, code);
  return {};
}

result<void> save_record(const job_paths& paths, const job_record& record) {
  const std::string tmp = paths.record + ".tmp";
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return failure::of_errno("cannot create", tmp, errno);
  if (!write_all(fd, record_to_json(record)) || ::fsync(fd) != 0) {
    failure why = failure::of_errno("cannot write", tmp, errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return why;
  }
  if (::close(fd) != 0 || std::rename(tmp.c_str(), paths.record.c_str()) != 0) {
    failure why = failure::of_errno("cannot replace", paths.record, errno);
    ::unlink(tmp.c_str());
    return why;
  }
  return sync_dir(paths.dir);
}

namespace {

// What an upload the server was receiving when it stopped can leave in its
// job directory, before job.json exists: the body being received
// (`body.tmp` for a form, `input.csv.tmp` for a raw body), the upload
// published as `input.csv`, a decoding under way (`input.csv.decoded.tmp`,
// `input.csv.body.tmp`), the first record being written (`job.json.tmp`),
// and the `spill` directory of a job counted while its upload arrived
// (holding only spill files). The 202 is only sent after job.json is in
// place, so a directory holding nothing else (or nothing) is an upload
// nobody was promised: that, and only that, the server removes as its own.
bool is_interrupted_upload(const fs::path& dir, std::string& what) {
  static const char* const ours[] = {
      "body.tmp",           "input.csv.tmp",
      "input.csv",          "input.csv.decoded.tmp",
      "input.csv.body.tmp", "job.json.tmp"};
  std::error_code ec;
  std::vector<std::string> names;
  bool spill = false;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name == "spill" && !it->is_symlink() && it->is_directory()) {
      spill = true;
      continue;
    }
    if (std::find(std::begin(ours), std::end(ours), name) == std::end(ours) ||
        !it->is_regular_file())
      return false;
    names.push_back(name);
  }
  if (ec)
    return false;
  if (spill) {
    // Spill files only: anything else there keeps the directory.
    remove_spills((dir / "spill").string());
    if (fs::exists(dir / "spill", ec) || ec)
      return false;
    names.emplace_back("spill/");
  }
  what = names.empty() ? "empty" : "only";
  for (const auto& name : names)
    what += " " + name;
  return true;
}

// A name under damaged/ not taken yet: `<name>`, else `<name>.1`, ...
std::string free_name(const fs::path& damaged, const std::string& name) {
  std::error_code ec;
  if (!fs::exists(damaged / name, ec) && !ec)
    return (damaged / name).string();
  for (int i = 1;; ++i) {
    const fs::path p = damaged / (name + "." + std::to_string(i));
    if (!fs::exists(p, ec) && !ec)
      return p.string();
  }
}

int64_t mtime_ms(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return 0;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 +
         st.st_mtim.tv_nsec / 1000000;
}

// Sets `entry` aside under damaged/ (one rename: the same file system).
bool quarantine(const fs::path& entry, const fs::path& damaged,
                std::string& moved_to, std::string& error) {
  std::error_code ec;
  fs::create_directories(damaged, ec);
  if (ec) {
    error = "cannot create " + damaged.string() + ": " + ec.message();
    return false;
  }
  moved_to = free_name(damaged, entry.filename().string());
  if (std::rename(entry.c_str(), moved_to.c_str()) != 0) {
    error = "cannot move it to " + moved_to + ": " + errno_text();
    return false;
  }
  (void)sync_dir(damaged.string());
  (void)sync_dir(entry.parent_path().string());
  return true;
}

// A complete result.csv beside a job.json that cannot be read: the result
// stays where it is, served with a record rebuilt from the files; the rest
// of the directory (the damaged job.json, an input) goes to damaged/.
// The finisher renames the result into place once it is whole, so a
// result.csv under that name is a complete one.
bool recover(const std::string& data_dir, const std::string& id,
             const std::string& why, damaged_entry& entry, job_record& out,
             std::string& error) {
  const job_paths p = paths_for(data_dir, id);
  const fs::path damaged = damaged_dir(data_dir);
  std::error_code ec;
  fs::create_directories(damaged, ec);
  if (ec) {
    error = "cannot create " + damaged.string() + ": " + ec.message();
    return false;
  }
  const std::string aside = free_name(damaged, id);
  if (::mkdir(aside.c_str(), 0755) != 0) {
    error = "cannot create " + aside + ": " + errno_text();
    return false;
  }
  entry.moved_to = aside;
  job_record r;
  r.id = id;
  r.state = job_state::finished;
  r.finished_at = mtime_ms(p.result);
  r.created_at = r.started_at =
      test_exists(p.record) ? std::min(mtime_ms(p.record), r.finished_at)
                            : r.finished_at;
  if (struct stat st{}; ::stat(p.input.c_str(), &st) == 0)
    r.bytes_total = r.bytes_done = static_cast<uint64_t>(st.st_size);
  r.note =
      "recovered from result.csv at a start: job.json could not be read (" +
      why + "); it was set aside in " + aside;
  for (fs::directory_iterator it(p.dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    // The result and what was made from it (checked when used, rebuilt
    // from the result when damaged) stay together.
    const std::string name = it->path().filename().string();
    if (name == "result.csv" || name == "summary.json" || name == "songs.idx")
      continue;
    const fs::path to = fs::path(aside) / it->path().filename();
    if (std::rename(it->path().c_str(), to.c_str()) != 0) {
      error = "cannot move " + it->path().string() + " to " + aside + ": " +
              errno_text();
      return false;
    }
  }
  if (ec) {
    error = "cannot read " + p.dir + ": " + ec.message();
    return false;
  }
  if (auto saved = save_record(p, r); !saved) {
    error = saved.error().text();
    return false;
  }
  (void)sync_dir(aside);
  (void)sync_dir(damaged.string());
  entry.recovered = true;
  out = std::move(r);
  return true;
}

} // namespace

std::string damaged_dir(const std::string& data_dir) {
  return (fs::path(data_dir) / "damaged").string();
}

bool test_exists(const std::string& path) noexcept {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

result<job_record> read_record(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return failure::because("no", path, {}); // "no job.json"
    return failure::of_errno("cannot open", path, errno);
  }
  // A record is a few hundred bytes (its first_bad lines are few): one far
  // larger is not one, and is not read whole into memory.
  constexpr size_t limit = 1 << 20;
  std::string text;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      const int code = errno;
      ::close(fd);
      return failure::of_errno("cannot read", path, code);
    }
    if (n == 0)
      break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > limit) {
      ::close(fd);
      // Said as it always was; the path travels along (not shown).
      failure why = failure::words("job.json is larger than 1 MiB");
      why.path = path;
      return why;
    }
  }
  ::close(fd);
  return parse_record(text);
}

result<stored_jobs> load_jobs(const std::string& data_dir) {
  stored_jobs out;
  std::error_code ec;
  const fs::path root = jobs_dir(data_dir);
  const fs::path damaged = damaged_dir(data_dir);
  fs::create_directories(root, ec);
  if (ec) // the system's category: the errno and its text
    return failure::of_errno("cannot create", root.string(), ec.value());
  const auto set_aside = [&](const fs::path& entry, const std::string& why) {
    damaged_entry d;
    d.path = entry.string();
    d.why = why;
    if (!quarantine(entry, damaged, d.moved_to, d.error))
      d.moved_to.clear();
    out.damaged.push_back(std::move(d));
  };
  // Read the names first: entries are renamed away while going through.
  std::vector<fs::directory_entry> entries;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end;
       it.increment(ec))
    entries.push_back(*it);
  if (ec)
    return failure::of_errno("cannot read", root.string(), ec.value());
  for (const auto& e : entries) {
    const fs::path dir = e.path();
    const std::string name = dir.filename().string();
    std::error_code type_ec;
    const bool is_dir = e.is_directory(type_ec) && !e.is_symlink(type_ec);
    constexpr std::string_view removing = ".removing";
    if (is_dir && name.size() == 36 + removing.size() &&
        is_job_id(std::string_view(name).substr(0, 36)) &&
        name.compare(36, std::string::npos, removing) == 0) {
      // A job being removed when the server stopped (remove_job_files).
      std::error_code ignored;
      fs::remove_all(dir, ignored);
      out.removed.push_back({dir.string(), "a job being removed"});
      continue;
    }
    if (!is_job_id(name)) {
      set_aside(dir, "not named like a job");
      continue;
    }
    if (!is_dir) {
      set_aside(dir, "not a directory");
      continue;
    }
    const job_paths paths = paths_for(data_dir, name);
    job_record record;
    std::string why;
    auto read = read_record(paths.record);
    bool good = static_cast<bool>(read);
    if (good)
      record = std::move(*read);
    else // beside the directory's path: "cannot open job.json: ..."
      why = read.error().text(failure::paths::file_names);
    if (good && record.id != name) {
      good = false;
      why = "its id is " + record.id;
    }
    if (!good) {
      std::string what;
      if (!test_exists(paths.record) && is_interrupted_upload(dir, what)) {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
        out.removed.push_back(
            {dir.string(),
             "an interrupted upload (no job.json, " + what + ")"});
        continue;
      }
      struct stat result {};
      if (::stat(paths.result.c_str(), &result) == 0 &&
          S_ISREG(result.st_mode)) {
        damaged_entry d;
        d.path = dir.string();
        d.why = why;
        job_record rebuilt;
        if (recover(data_dir, name, why, d, rebuilt, d.error)) {
          out.damaged.push_back(std::move(d));
          out.records.push_back(std::move(rebuilt));
          continue;
        }
        // Could not rebuild: set the whole directory aside instead (what
        // was already moved is in d.moved_to).
        out.damaged.push_back(std::move(d));
        set_aside(dir, why);
        continue;
      }
      set_aside(dir, why);
      continue;
    }
    std::error_code inner;
    for (fs::directory_iterator f(dir, inner), fend; !inner && f != fend;
         f.increment(inner))
      if (is_leftover(f->path().filename().string())) {
        std::error_code ignored;
        fs::remove(f->path(), ignored);
      }
    // What a job spilled when the server stopped (only spill's own files).
    remove_spills((dir / "spill").string());
    out.records.push_back(std::move(record));
  }
  for (fs::directory_iterator it(damaged, ec), end; !ec && it != end;
       it.increment(ec))
    ++out.damaged_total;
  std::stable_sort(out.records.begin(), out.records.end(),
                   [](const job_record& a, const job_record& b) {
                     return a.created_at < b.created_at;
                   });
  return out;
}

result<void> remove_job_files(const job_paths& paths) {
  // Renamed first, in one atomic step: a crash while the files go leaves a
  // directory not named like a job (removed at the next start), never a
  // job.json whose result or input is half gone.
  std::string dir = paths.dir + ".removing";
  if (std::rename(paths.dir.c_str(), dir.c_str()) != 0) {
    if (errno == ENOENT)
      return {};
    dir = paths.dir; // remove in place, as well as it goes
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) // the system's category: the errno and its text
    return failure::of_errno("cannot remove", dir, ec.value());
  return {};
}

result<void> remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return failure::of_errno("cannot remove", path, errno);
  return {};
}

} // namespace playcount
