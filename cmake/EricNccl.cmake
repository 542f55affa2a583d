# eric_link_nccl(<target> <nccl_comm source> <hint dir>...): where nccl.h and
# libnccl are found under the hints (the CUDA toolkit here; the device project
# adds the GPU image's pip wheel), links NCCL into <target> and compiles the
# source with ERIC_HAVE_NCCL=1. Without them nccl_comm builds its stub, which
# reports Unimplemented, and nothing else changes.
function(eric_link_nccl target source)
  find_path(ERIC_NCCL_INCLUDE nccl.h HINTS ${ARGN})
  find_library(ERIC_NCCL_LIB NAMES nccl libnccl.so.2 HINTS ${ARGN})
  if(ERIC_NCCL_INCLUDE AND ERIC_NCCL_LIB)
    set_source_files_properties(${source} TARGET_DIRECTORY ${target} PROPERTIES COMPILE_DEFINITIONS ERIC_HAVE_NCCL=1)
    target_include_directories(${target} PRIVATE ${ERIC_NCCL_INCLUDE})
    target_link_libraries(${target} PUBLIC ${ERIC_NCCL_LIB})
    message(STATUS "eric: CUDA backend with NCCL (${ERIC_NCCL_LIB})")
  else()
    message(STATUS "eric: CUDA backend without NCCL (no nccl.h/libnccl under ${ARGN})")
  endif()
endfunction()
