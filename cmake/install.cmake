# `cmake --install`: libqforge (shared + static), the public headers, the qforge binary and its man
# page, pkg-config's qforge.pc and the CMake package (find_package(qforge) -> qforge::qforge, the
# shared library, and qforge::qforge_static).
include(CMakePackageConfigHelpers)

install(TARGETS qforge_shared qforge_lib EXPORT qforgeTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS qforge RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_BINARY_DIR}/qforge.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${QF_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/qforge)

# pkg-config: dynamic linking needs only -lqforge; `pkg-config --static` adds what libqforge.a uses.
# oneDNN ships no .pc file and GCC's OpenMP runtime none either, hence Libs.private.
# The prefix is written relative to the .pc file, so the package works wherever it is installed
# (`cmake --install build --prefix DIR` included).
set(QF_PC_LIBS_PRIVATE "-ldnnl -lgomp -lpthread -lm")
file(RELATIVE_PATH QF_PC_TO_PREFIX /root/${CMAKE_INSTALL_LIBDIR}/pkgconfig /root)
string(REGEX REPLACE "/$" "" QF_PC_TO_PREFIX "${QF_PC_TO_PREFIX}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/qforge.pc.in ${PROJECT_BINARY_DIR}/qforge.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/qforge.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

set(QF_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/qforge)
install(EXPORT qforgeTargets NAMESPACE qforge:: DESTINATION ${QF_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/qforgeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/qforgeConfig.cmake INSTALL_DESTINATION ${QF_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/qforgeConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/qforgeConfig.cmake ${PROJECT_BINARY_DIR}/qforgeConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/qforge_find_dnnl.cmake
  DESTINATION ${QF_CMAKE_DIR})
