# Installs the already-built racelab into a scratch prefix, then configures, builds and runs
# examples/ as an outside project would: find_package(racelab) and racelab::racelab, nothing else.
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
