# The library's layers (docs/ARCHITECTURE.md), each its own object library whose include path
# reaches only itself and the layers it may use. Every layer gets a generated include folder,
# <build>/layers/<layer>/, holding links to exactly what it may include:
#   qforge/<header>.h  the public headers of the layers below it (and its own);
#   <folder>/          its own source folders, for its private headers ("readers/zip/zip_adapter.h").
# So an upward #include, or a private header used across folders, is a compile error
# ("No such file or directory"); tests/layering/check.sh proves it with one of each.
#
# qf_layer(NAME FOLDERS f... [SEES f...] HEADERS h... [USES libs...] [EXTRA_INCLUDES dirs...])
#   FOLDERS  source folders of the layer (every .c below them is compiled)
#   SEES     folders whose headers the layer may include but does not compile (protobuf/, the
#            ONNX schema adapter that readers/onnx and writers/onnx share)
#   HEADERS  the public headers (include/qforge/<h>.h) the layer may include
#   USES     link interface: libraries the layer's code calls (imported targets, other layers' deps)

set(QF_LAYER_ROOT ${PROJECT_BINARY_DIR}/layers)
set(QF_LAYER_TARGETS)

function(qf_layer NAME)
  cmake_parse_arguments(L "" "" "FOLDERS;SEES;HEADERS;USES;EXTRA_INCLUDES" ${ARGN})
  set(dir ${QF_LAYER_ROOT}/${NAME})
  file(REMOVE_RECURSE ${dir})
  file(MAKE_DIRECTORY ${dir}/qforge)
  foreach(h IN LISTS L_HEADERS)
    if(NOT EXISTS ${PROJECT_SOURCE_DIR}/include/qforge/${h}.h)
      message(FATAL_ERROR "qf_layer(${NAME}): no public header include/qforge/${h}.h")
    endif()
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/include/qforge/${h}.h ${dir}/qforge/${h}.h SYMBOLIC)
  endforeach()
  set(sources)
  foreach(f IN LISTS L_FOLDERS)
    get_filename_component(top ${f} NAME)
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${f} ${dir}/${top} SYMBOLIC)
    file(GLOB_RECURSE found CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${f}/*.c)
    list(APPEND sources ${found})
  endforeach()
  foreach(f IN LISTS L_SEES)
    get_filename_component(top ${f} NAME)
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${f} ${dir}/${top} SYMBOLIC)
  endforeach()
  set(target qf_layer_${NAME})
  add_library(${target} OBJECT ${sources})
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  # Only the layer's own folder: no -I of the source tree or of include/ (the folder of the
  # including file is still searched first, so "same-folder.h" works as everywhere).
  target_include_directories(${target} PRIVATE ${dir} ${L_EXTRA_INCLUDES})
  target_compile_definitions(${target} PRIVATE _POSIX_C_SOURCE=200809L QF_VERSION="${PROJECT_VERSION}")
  target_link_libraries(${target} PRIVATE ${L_USES})
  # what tests/layering/check.sh compiles a probe with: this layer's include flags
  file(GENERATE OUTPUT ${QF_LAYER_ROOT}/${NAME}.include_flags
       CONTENT "-I${dir}\n$<$<BOOL:${L_EXTRA_INCLUDES}>:-I$<JOIN:${L_EXTRA_INCLUDES},\n-I>\n>")
  set(QF_LAYER_TARGETS ${QF_LAYER_TARGETS} ${target} PARENT_SCOPE)
endfunction()
