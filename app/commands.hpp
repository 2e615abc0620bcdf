#pragma once

// The subcommands of the playcount binary; each returns the exit status.

namespace playcount {

int count_command(int argc, char** argv);
int serve_command(int argc, char** argv);
int worker_command(int argc, char** argv);

/// `playcount --version`, `-V`, or `COMMAND --version`: prints it, returns 0.
int print_version();

/// Whether descriptor 0, 1 or 2 was closed when the process started (it is
/// /dev/null since): `count -` and `-o -` then refuse rather than read or
/// write nothing.
bool standard_descriptor_was_closed(int fd);

} // namespace playcount
