# racelab_instrument(TARGET...): builds the targets for `racelab run`, as `racelab cc` / `racelab c++`
# do: their sources compiled with -fsanitize=thread (the compiler's ThreadSanitizer instrumentation,
# plus -g for file:line in the timeline and race reports), and executables and shared libraries
# linked with racelab's runtime, libracelab_rt.so, instead of ThreadSanitizer's.
#
#   find_package(racelab REQUIRED)
#   add_executable(bank bank.cpp)
#   racelab_instrument(bank)
#   # racelab run -- ./bank
#
# The program still runs on its own as before. Static libraries get the compile flags only; link
# them into an instrumented executable. Do not combine with a real sanitizer build of the target.
function(racelab_instrument)
  if(NOT TARGET racelab::rt)
    message(FATAL_ERROR "racelab_instrument: this racelab has no runtime (racelab::rt): it was built with "
                        "RACELAB_BUILD_LAB=OFF")
  endif()
  find_package(Threads REQUIRED)
  foreach(target IN LISTS ARGN)
    if(NOT TARGET ${target})
      message(FATAL_ERROR "racelab_instrument: '${target}' is not a target")
    endif()
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "INTERFACE_LIBRARY")
      message(FATAL_ERROR "racelab_instrument: '${target}' is an interface library: it has no sources of its own")
    endif()
    target_compile_options(${target} PRIVATE -fsanitize=thread -g)
    if(type STREQUAL "EXECUTABLE" OR type STREQUAL "SHARED_LIBRARY" OR type STREQUAL "MODULE_LIBRARY")
      target_link_libraries(${target} PRIVATE racelab::rt Threads::Threads)
    endif()
  endforeach()
endfunction()
