#include "http/build_info.hpp"

#include <boost/version.hpp>
#include <caf/config.hpp>
#include <pistache/version.h>

#ifndef PLAYCOUNT_VERSION
#error "PLAYCOUNT_VERSION comes from CMake (http/CMakeLists.txt)"
#endif
#ifndef PLAYCOUNT_BUILD_TYPE
#define PLAYCOUNT_BUILD_TYPE ""
#endif

namespace playcount::http {

const build_facts& build_info() {
  static const build_facts facts = [] {
    build_facts f;
    f.version = PLAYCOUNT_VERSION;
    f.build_type = PLAYCOUNT_BUILD_TYPE;
#if defined(__clang__)
    f.compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
    f.compiler = "gcc " __VERSION__;
#endif
    f.caf = std::to_string(CAF_MAJOR_VERSION) + "." +
            std::to_string(CAF_MINOR_VERSION) + "." +
            std::to_string(CAF_PATCH_VERSION);
    f.pistache = std::to_string(Pistache::Version::Major) + "." +
                 std::to_string(Pistache::Version::Minor) + "." +
                 std::to_string(Pistache::Version::Patch);
    f.boost = std::to_string(BOOST_VERSION / 100000) + "." +
              std::to_string(BOOST_VERSION / 100 % 1000) + "." +
              std::to_string(BOOST_VERSION % 100);
    while (!f.compiler.empty() && f.compiler.back() == ' ')
      f.compiler.pop_back(); // clang's version ends with a space
    return f;
  }();
  return facts;
}

} // namespace playcount::http
