# Helpers that give every project target the same warnings and layout.

# cantdo_warnings(target): -Wall -Wextra -Werror on project code only
# (generated protobuf code and third-party headers are not held to it).
function(cantdo_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-missing-field-initializers)
endfunction()

# cantdo_library(NAME <name> SOURCES ... DEPS ...): a static library
# `cantdo_<name>` with alias `cantdo::<name>`, public headers under
# libs/<name>/include.
function(cantdo_library)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS" ${ARGN})
  add_library(cantdo_${ARG_NAME} STATIC ${ARG_SOURCES})
  add_library(cantdo::${ARG_NAME} ALIAS cantdo_${ARG_NAME})
  target_include_directories(cantdo_${ARG_NAME} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(cantdo_${ARG_NAME} PUBLIC ${ARG_DEPS})
  cantdo_warnings(cantdo_${ARG_NAME})
endfunction()

# cantdo_service_includes(<target> <service>): `#include "<service>/..."`
# for <target> and everything that links it, and no other service's
# headers. The include root is a directory of the build tree holding one
# entry, <service>, a link to services/<service>; services/ itself is on no
# include path, so a service that includes another does not compile unless
# it links it (scripts/check-layering forbids that too).
function(cantdo_service_includes target service)
  set(root ${CMAKE_BINARY_DIR}/service_includes/${service})
  file(MAKE_DIRECTORY ${root})
  file(CREATE_LINK ${PROJECT_SOURCE_DIR}/services/${service} ${root}/${service} SYMBOLIC)
  target_include_directories(${target} PUBLIC ${root})
endfunction()
