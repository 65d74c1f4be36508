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
