# Run by `cmake --install` (packaging/CMakeLists.txt sets the PLAYCOUNT_*
# variables): the systemd units, the settings file and the man pages, for
# the prefix of this install. Destinations are absolute; file(INSTALL)
# puts $DESTDIR in front of them.
set(prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr" OR prefix STREQUAL "/")
  set(sysconfdir /etc)
else()
  set(sysconfdir "${prefix}/etc")
endif()
if(IS_ABSOLUTE "${PLAYCOUNT_SYSTEMD_UNIT_DIR}")
  set(unit_dir "${PLAYCOUNT_SYSTEMD_UNIT_DIR}")
else()
  set(unit_dir "${prefix}/${PLAYCOUNT_SYSTEMD_UNIT_DIR}")
endif()
set(PLAYCOUNT_BINARY "${prefix}/${PLAYCOUNT_BINDIR}/playcount")
set(PLAYCOUNT_ENV_FILE "${sysconfdir}/default/playcount")

# A directory of this install's own: installs may run at once (ctest -j).
string(RANDOM LENGTH 12 tag)
set(PLAYCOUNT_STAGE_DIR "${PLAYCOUNT_STAGE_DIR}/${tag}")
file(MAKE_DIRECTORY "${PLAYCOUNT_STAGE_DIR}")
foreach(unit playcount.service playcount-worker@.service)
  configure_file("${PLAYCOUNT_PACKAGING_DIR}/${unit}.in"
                 "${PLAYCOUNT_STAGE_DIR}/${unit}" @ONLY)
  file(INSTALL "${PLAYCOUNT_STAGE_DIR}/${unit}" DESTINATION "${unit_dir}"
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endforeach()

# The tokens go in here: readable by root only. An operator's file is never
# overwritten by installing again (the package's dpkg does the same: it is
# a conffile).
if(EXISTS "$ENV{DESTDIR}${PLAYCOUNT_ENV_FILE}")
  message(STATUS "Kept: $ENV{DESTDIR}${PLAYCOUNT_ENV_FILE}")
else()
  file(INSTALL "${PLAYCOUNT_PACKAGING_DIR}/playcount.default"
       DESTINATION "${sysconfdir}/default"
       RENAME playcount PERMISSIONS OWNER_READ OWNER_WRITE)
endif()

# A man page per command, from its --help and --version.
if(NOT PLAYCOUNT_HELP2MAN)
  message(WARNING "help2man was not found: no man pages installed "
                  "(apt-get install help2man, then configure again)")
  file(REMOVE_RECURSE "${PLAYCOUNT_STAGE_DIR}")
  return()
endif()
set(pages playcount playcount-count playcount-serve playcount-worker)
set(summaries
    "totals of song plays per song and date"
    "total the plays per song and date of a CSV file"
    "serve the playcount HTTP API"
    "a worker node for a playcount server")
foreach(page ${pages})
  list(FIND pages ${page} i)
  list(GET summaries ${i} summary)
  string(REPLACE "playcount" "" command "${page}")
  string(REPLACE "-" "" command "${command}")
  # help2man names the page after the program it runs: a wrapper so named.
  set(wrapper "${PLAYCOUNT_STAGE_DIR}/bin/${page}")
  # ("Usage:" is what help2man takes for the synopsis.)
  file(WRITE "${wrapper}" "#!/bin/sh\n'${PLAYCOUNT_BUILT_BINARY}' ${command} \"$@\" | sed '1s/^usage:/Usage:/'\n")
  file(CHMOD "${wrapper}" PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
  execute_process(
    COMMAND "${PLAYCOUNT_HELP2MAN}" --no-info --section=1
            --name=${summary} --source=playcount
            --version-string=${PLAYCOUNT_VERSION}
            --include=${PLAYCOUNT_PACKAGING_DIR}/man.h2m
            --output=${PLAYCOUNT_STAGE_DIR}/${page}.1 "${wrapper}"
    RESULT_VARIABLE failed)
  if(failed)
    message(FATAL_ERROR "help2man could not make ${page}.1")
  endif()
  file(INSTALL "${PLAYCOUNT_STAGE_DIR}/${page}.1"
       DESTINATION "${prefix}/${PLAYCOUNT_MANDIR}/man1"
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endforeach()
file(REMOVE_RECURSE "${PLAYCOUNT_STAGE_DIR}")
