// Sanitizer defaults, linked into every executable of a sanitizer or fuzz
// build (see PLAYCOUNT_SANITIZE in the top CMakeLists.txt), so that a test
// binary, the playcount binary a test starts, and a binary run by hand all
// behave the same. ASAN_OPTIONS and the like still override these.
//
// - The first report ends the process with a failure: a report is a bug.
// - Leaks are reported (LSan, part of ASan on x86-64 Linux). A leak that
//   belongs to a third-party library would be suppressed in lsan.supp, one
//   entry per leak; none has been needed.
// - UBSan reports from CAF's headers are suppressed in ubsan.supp.

#ifndef PLAYCOUNT_SANITIZER_DIR
#error "PLAYCOUNT_SANITIZER_DIR: the directory of the suppression files"
#endif

extern "C" {

// Called by the runtimes before main; must not be instrumented themselves.
#define PLAYCOUNT_NO_SANITIZE __attribute__((no_sanitize_address, used))

PLAYCOUNT_NO_SANITIZE const char* __asan_default_options() {
  return "halt_on_error=1:detect_leaks=1:check_initialization_order=1:"
         "strict_init_order=1:detect_odr_violation=2";
}

PLAYCOUNT_NO_SANITIZE const char* __lsan_default_options() {
  return "suppressions=" PLAYCOUNT_SANITIZER_DIR "/lsan.supp:"
         "print_suppressions=0";
}

PLAYCOUNT_NO_SANITIZE const char* __ubsan_default_options() {
  return "halt_on_error=1:print_stacktrace=1:report_error_type=1:"
         "suppressions=" PLAYCOUNT_SANITIZER_DIR "/ubsan.supp";
}

// ThreadSanitizer (make test-tsan, not in CI): every report is shown, and a
// run with reports exits with 66, failing its test.
PLAYCOUNT_NO_SANITIZE const char* __tsan_default_options() {
  return "halt_on_error=0:second_deadlock_stack=1:history_size=4:"
         "suppressions=" PLAYCOUNT_SANITIZER_DIR "/tsan.supp";
}

} // extern "C"
