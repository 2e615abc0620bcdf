#pragma once

// The subcommands of the playcount binary; each returns the exit status.

namespace playcount {

int count_command(int argc, char** argv);
int serve_command(int argc, char** argv);
int worker_command(int argc, char** argv);

/// `playcount --version`, `-V`, or `COMMAND --version`: prints it, returns 0.
int print_version();

} // namespace playcount
