# oneDNN, located by its header and library rather than its CMake package.
# Debian's libdnnl-dev is built with the OpenCL GPU runtime, so its dnnl-config.cmake calls
# find_package(OpenCL REQUIRED) and fails on a machine without ocl-icd-opencl-dev (a package
# libdnnl-dev only recommends). qforge uses the CPU engine alone and needs neither OpenCL nor the
# config's compile flags: the C API header and the shared library are all there is to find.
# Defines the imported target DNNL::dnnl (unless a dnnl package already did).
if(NOT TARGET DNNL::dnnl)
  find_path(QF_DNNL_INCLUDE_DIR dnnl.h)
  find_library(QF_DNNL_LIBRARY dnnl)
  if(NOT QF_DNNL_INCLUDE_DIR OR NOT QF_DNNL_LIBRARY)
    message(FATAL_ERROR "oneDNN not found (dnnl.h: ${QF_DNNL_INCLUDE_DIR}, libdnnl: ${QF_DNNL_LIBRARY}); "
                        "on Debian: apt-get install libdnnl-dev, or run .ci/install-deps.sh")
  endif()
  add_library(DNNL::dnnl SHARED IMPORTED)
  set_target_properties(DNNL::dnnl PROPERTIES
    IMPORTED_LOCATION ${QF_DNNL_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${QF_DNNL_INCLUDE_DIR})
endif()
