# Installs the already-built racelab into a scratch prefix, then configures, builds and runs
# examples/ as an outside project would: find_package(racelab) and racelab::racelab, nothing else;
# then checks the package's components (sqlite, postgres).
cmake_minimum_required(VERSION 3.25)  # IN_LIST in script mode
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${WORK_DIR}/prefix
  COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples -B ${WORK_DIR}/build -G Ninja
  -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=${BUILD_TYPE} "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
  COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build COMMAND_ERROR_IS_FATAL ANY)
file(GLOB examples ${WORK_DIR}/build/example_*)
list(LENGTH examples count)
if(count EQUAL 0)
  message(FATAL_ERROR "no example was built")
endif()
foreach(example IN LISTS examples)
  message(STATUS "running ${example}")
  execute_process(COMMAND ${example} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${example} exited with ${rc}")
  endif()
endforeach()
message(STATUS "${count} examples built against the installed package and passed")

# Components: plain find_package(racelab) needs neither SQLite nor libpq; each component finds its
# own dependency and links; one asked for but unavailable is named in the error.
# probe(NAME EXPECT ok|fail [MATCH regex] ARGS ...): configures components/ (and builds it when ok).
function(probe name)
  cmake_parse_arguments(P "" "EXPECT;MATCH" "ARGS" ${ARGN})
  set(dir ${WORK_DIR}/components_${name})
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${CMAKE_CURRENT_LIST_DIR}/components -B ${dir} -G Ninja
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=${BUILD_TYPE} "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" ${P_ARGS}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(P_EXPECT STREQUAL "ok" AND rc EQUAL 0)
    execute_process(COMMAND ${CMAKE_COMMAND} --build ${dir} RESULT_VARIABLE rc OUTPUT_VARIABLE out2 ERROR_VARIABLE err2)
    string(APPEND out "${out2}")
    string(APPEND err "${err2}")
    if(rc EQUAL 0 AND EXISTS ${dir}/adapters)
      execute_process(COMMAND ${dir}/adapters RESULT_VARIABLE rc OUTPUT_VARIABLE out2 ERROR_VARIABLE err2)
      string(APPEND out "${out2}")
      string(APPEND err "${err2}")
    endif()
  endif()
  if((P_EXPECT STREQUAL "ok" AND NOT rc EQUAL 0) OR (P_EXPECT STREQUAL "fail" AND rc EQUAL 0))
    message(FATAL_ERROR "components probe '${name}': expected ${P_EXPECT}, got exit ${rc}:\n${out}${err}")
  endif()
  if(P_MATCH AND NOT "${out}${err}" MATCHES "${P_MATCH}")
    message(FATAL_ERROR "components probe '${name}': output does not match '${P_MATCH}':\n${out}${err}")
  endif()
  message(STATUS "components probe '${name}': ${P_EXPECT} as expected")
endfunction()
probe(core_without_databases EXPECT ok ARGS -DCOMPONENTS=
  -DCMAKE_DISABLE_FIND_PACKAGE_SQLite3=ON -DCMAKE_DISABLE_FIND_PACKAGE_PostgreSQL=ON)
# BUILT_COMPONENTS: the adapters this racelab has (the build found their dependency), comma-separated.
string(REPLACE "," ";" BUILT_COMPONENTS "${BUILT_COMPONENTS}")
if("sqlite" IN_LIST BUILT_COMPONENTS AND "postgres" IN_LIST BUILT_COMPONENTS)
  probe(both EXPECT ok MATCH "postgres refused as expected" ARGS -DCOMPONENTS=sqlite,postgres)
  probe(postgres_missing EXPECT fail MATCH "'postgres' component needs PostgreSQL, which was not found"
    ARGS -DCOMPONENTS=postgres -DCMAKE_DISABLE_FIND_PACKAGE_PostgreSQL=ON)
endif()
foreach(component sqlite postgres)
  if(NOT component IN_LIST BUILT_COMPONENTS)
    probe(${component}_not_built EXPECT fail MATCH "built without its '${component}' adapter"
      ARGS -DCOMPONENTS=${component})
  endif()
endforeach()
probe(postgres_optional EXPECT ok MATCH "racelab_postgres_FOUND=FALSE"
  ARGS -DCOMPONENTS=postgres -DOPTIONAL=ON -DCMAKE_DISABLE_FIND_PACKAGE_PostgreSQL=ON)
probe(unknown EXPECT fail MATCH "racelab has no component 'mysql'" ARGS -DCOMPONENTS=mysql)

# racelab_instrument(): the unmodified bank, built against the installed runtime, and its double
# spend found by `racelab run` with that runtime.
set(bank ${WORK_DIR}/build/run_example_05_unmodified_bank)
if(NOT EXISTS ${bank})
  message(FATAL_ERROR "racelab_instrument did not build run_example_05_unmodified_bank")
endif()
if(RACELAB_CLI)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env RACELAB_RT_LIBRARY=${WORK_DIR}/prefix/lib/libracelab_rt.so
                          ${RACELAB_CLI} run --strategy dfs:2 --runs 5000 -- ${bank}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 1 OR NOT out MATCHES "double spend: alice is negative")
    message(FATAL_ERROR "racelab run on the instrumented bank exited ${rc}, expected 1 with the double spend:\n${out}${err}")
  endif()
  message(STATUS "racelab run found the double spend in the instrumented bank")
endif()
