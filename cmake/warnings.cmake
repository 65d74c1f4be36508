# racelab_warnings(target): the house warning set; errors when RACELAB_WERROR is on.
function(racelab_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
    -Wno-sign-conversion $<$<BOOL:${RACELAB_WERROR}>:-Werror>)
endfunction()
