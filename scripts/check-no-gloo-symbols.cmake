# Fails the build when the core library refers to, or defines, any symbol of gloo: vitorch only declares the gloo
# types c10d's headers name (native/distributed/gloo_declarations), so code that needed gloo's real definitions
# (its layout, its functions) would run against declarations that may not match the library's.
#   cmake -DNM=nm -DLIBRARY=libvitorch_core.a -P scripts/check-no-gloo-symbols.cmake
execute_process(COMMAND "${NM}" -C "${LIBRARY}" OUTPUT_VARIABLE symbols ERROR_QUIET RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "vitorch: could not list the symbols of ${LIBRARY} with ${NM}")
endif()
string(REGEX MATCHALL "[^\n]*gloo::[^\n]*" found "${symbols}")
set(offending "")
foreach(line IN LISTS found)
  # c10d's own classes nested in ProcessGroupGloo are libtorch's, not gloo's.
  string(REGEX REPLACE "c10d::ProcessGroupGloo" "" stripped "${line}")
  if(stripped MATCHES "gloo::")
    list(APPEND offending "${line}")
  endif()
endforeach()
if(offending)
  list(JOIN offending "\n  " listing)
  message(FATAL_ERROR "vitorch: the core library depends on gloo's own definitions, which the torch wheel does not "
    "ship (see native/distributed/gloo_declarations/gloo/README.md):\n  ${listing}")
endif()
