# CPack (included from the top CMakeLists.txt when racelab is the top-level project): `cpack -G DEB`
# in the build directory makes one Debian package of everything `cmake --install` installs: the
# racelab tool, libracelab_rt.so, the static libraries, the headers, the CMake package config and
# racelab.pc. docs/dependencies.md says why, and what each part needs.
set(RACELAB_PACKAGE_CONTACT "racelab maintainers <maintainers@racelab.invalid>"
  CACHE STRING "The Maintainer of the Debian package (cpack -G DEB)")

set(CPACK_PACKAGE_NAME racelab)
set(CPACK_PACKAGE_VENDOR racelab)
set(CPACK_PACKAGE_CONTACT "${RACELAB_PACKAGE_CONTACT}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_DESCRIPTION
  "racelab makes race conditions reproducible: named points in code, real-thread hooks (delay, barrier,\n"
  "order), a deterministic simulation that explores schedules and replays a failure from its seed,\n"
  "database adapters for SQLite and PostgreSQL, and `racelab run` for unmodified programs.\n"
  "This package has the C++20 library (static), its headers, CMake package config and pkg-config\n"
  "file")
if(TARGET racelab_cli)
  list(APPEND CPACK_PACKAGE_DESCRIPTION ", the racelab tool and its runtime (libracelab_rt.so)")
endif()
string(JOIN "" CPACK_PACKAGE_DESCRIPTION ${CPACK_PACKAGE_DESCRIPTION} ".")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_RESOURCE_FILE_README ${PROJECT_SOURCE_DIR}/README.md)
# The package installs where this build was configured to install: the racelab tool looks for its
# runtime at ${CMAKE_INSTALL_FULL_LIBDIR}, so the two must agree (packagers: -DCMAKE_INSTALL_PREFIX=/usr).
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
# Depends: what the binaries load (dpkg-shlibdeps, when it is there), and what a consumer links:
# the static racelab needs Boost.Context's library and CMake config.
find_program(RACELAB_DPKG_SHLIBDEPS dpkg-shlibdeps)
mark_as_advanced(RACELAB_DPKG_SHLIBDEPS)
if(RACELAB_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libboost-context-dev (>= 1.74)")
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libboost-context-dev (>= 1.74), libc6, libstdc++6, libgcc-s1, libatomic1")
  if(TARGET racelab_cli)
    string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS ", libsqlite3-0, libpq5")
  endif()
endif()
# A C++20 compiler for the headers and `racelab cc`; addr2line (binutils) for racelab run's stacks.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "g++ (>= 4:12) | clang (>= 1:14), binutils")
# The adapters' consumers link the client libraries (find_package(racelab COMPONENTS ...)).
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libsqlite3-dev, libpq-dev")

include(CPack)
