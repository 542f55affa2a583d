# The Hopper attention kernel (src/backend/cuda/attention_wgmma_kernels.cu)
# uses wgmma, which exists only in sm_90a code, so it gets its own static
# library compiled for exactly that target and linked into the CUDA backend,
# which then defines ERIC_HAVE_WGMMA. Only where the build targets sm_90 (no
# other card can run it). Shared by the main build and tools/device/.
#
#   eric_add_wgmma(<cuda backend target> <folder of the kernel>)
function(eric_add_wgmma cuda_lib src_dir)
  set(archs ${CMAKE_CUDA_ARCHITECTURES})
  if(NOT ("90" IN_LIST archs OR "90a" IN_LIST archs OR "90-real" IN_LIST archs))
    message(STATUS "wgmma attention: not built (CMAKE_CUDA_ARCHITECTURES '${archs}' has no sm_90)")
    return()
  endif()
  set(lib ${cuda_lib}_sm90a)
  add_library(${lib} STATIC ${src_dir}/attention_wgmma_kernels.cu)
  # Exactly sm_90a: CMake's architecture flags off, our own instead.
  set_target_properties(${lib} PROPERTIES CUDA_ARCHITECTURES OFF POSITION_INDEPENDENT_CODE ON)
  target_compile_options(${lib} PRIVATE --generate-code=arch=compute_90a,code=sm_90a -lineinfo --expt-relaxed-constexpr)
  target_compile_definitions(${lib} PRIVATE ERIC_HAVE_WGMMA=1)
  get_filename_component(src_root ${src_dir}/../.. ABSOLUTE)
  target_include_directories(${lib} PRIVATE ${src_root})
  target_link_libraries(${lib} PUBLIC CUDA::cudart)
  target_link_libraries(${cuda_lib} PUBLIC ${lib})
  target_compile_definitions(${cuda_lib} PRIVATE ERIC_HAVE_WGMMA=1)
  message(STATUS "wgmma attention: built for sm_90a")
endfunction()
