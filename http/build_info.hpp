#pragma once

// How this binary was built: what `GET /version` shows (and what a
// playcount_build_info metric can carry). The version is the project's, the
// one `playcount --version` prints (both from CMake's PROJECT_VERSION).

#include <string>

namespace playcount::http {

struct build_facts {
  std::string version;    ///< "0.1.0"
  std::string build_type; ///< CMake's: Release, Debug, ...
  std::string compiler;   ///< "gcc 12.2.0", "clang 14.0.6"
  std::string caf;        ///< the libraries built against: "0.17.6"
  std::string pistache;
  std::string boost;
};

[[nodiscard]] const build_facts& build_info();

} // namespace playcount::http
