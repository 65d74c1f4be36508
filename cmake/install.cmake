# Install rules (included from the top CMakeLists.txt): headers, the core library and the adapters
# that were built, the CMake package config and racelab.pc. The lab adds racelab_rt and the CLI.
#
#   find_package(racelab REQUIRED)                      # racelab::racelab: threads, Boost.Context
#   find_package(racelab REQUIRED COMPONENTS sqlite)    # + racelab::sqlite (needs SQLite3)
#   find_package(racelab REQUIRED COMPONENTS mariadb)   # + racelab::mariadb (needs Connector/C)
#   pkg-config --cflags --libs racelab                  # the core, without CMake
#
# Each adapter has its own export set, so the config loads (and finds the dependency of) only the
# components a consumer asks for.
include(CMakePackageConfigHelpers)
set(RACELAB_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/racelab)

install(TARGETS racelab EXPORT racelabTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/racelab DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT racelabTargets NAMESPACE racelab:: DESTINATION ${RACELAB_CMAKE_DIR})
foreach(component IN LISTS RACELAB_COMPONENTS)
  install(TARGETS racelab_${component} EXPORT racelab_${component}Targets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT racelab_${component}Targets NAMESPACE racelab:: DESTINATION ${RACELAB_CMAKE_DIR})
endforeach()

# A static racelab carries Boost.Context as $<LINK_ONLY:Boost::context>: a consumer links it too,
# so the config finds it. A shared racelab (BUILD_SHARED_LIBS) hides it.
get_target_property(racelab_type racelab TYPE)
if(racelab_type STREQUAL "STATIC_LIBRARY")
  set(RACELAB_STATIC TRUE)
else()
  set(RACELAB_STATIC FALSE)
endif()
configure_package_config_file(cmake/racelabConfig.cmake.in
  ${PROJECT_BINARY_DIR}/racelabConfig.cmake
  INSTALL_DESTINATION ${RACELAB_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/racelabConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/racelabConfig.cmake ${PROJECT_BINARY_DIR}/racelabConfigVersion.cmake
  cmake/racelabInstrument.cmake cmake/FindMariaDBClient.cmake DESTINATION ${RACELAB_CMAKE_DIR})

# racelab.pc, relocatable: its prefix is found from where the file is (${pcfiledir}), so the same
# file works in /usr, /usr/local or a directory a package was unpacked into.
set(RACELAB_PC_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(RACELAB_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(RACELAB_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(RACELAB_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH pc_to_prefix /root/${RACELAB_PC_DIR} /root)
  string(REGEX REPLACE "/$" "" pc_to_prefix "${pc_to_prefix}")
  set(RACELAB_PC_PREFIX "\${pcfiledir}/${pc_to_prefix}")
  set(RACELAB_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(RACELAB_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# The archive needs Boost.Context whenever it is linked, and Boost ships no .pc file: a static
# racelab lists -lboost_context in Libs (there is no shared racelab a plain `pkg-config --libs`
# could mean), a shared one in Libs.private. Threads are public: the headers use std::thread.
if(RACELAB_STATIC)
  set(RACELAB_PC_LIBS "-lboost_context")
  set(RACELAB_PC_LIBS_PRIVATE "")
else()
  set(RACELAB_PC_LIBS "")
  set(RACELAB_PC_LIBS_PRIVATE "-lboost_context")
endif()
configure_file(cmake/racelab.pc.in ${PROJECT_BINARY_DIR}/racelab.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/racelab.pc DESTINATION ${RACELAB_PC_DIR})
