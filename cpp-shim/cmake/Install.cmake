# What `cmake --install` puts where, for one LLVM major's build tree. Installing the trees of
# both majors into one prefix gives the full set; the files they share (the Rust library, the
# C header, the package's version-independent parts) are identical in both.
#
#   cmake --install target/cmake-22 --prefix /opt/jitslab [--component C] [--strip]
#
# Components (the Debian packages of `./x package` are cut along them):
#   runtime   lib/libjitslab.so.0                         the C library
#   dev       include/jitslab.h, include/jitslab/*.h (the shim's, the same for every major),
#             lib/libjitslab.so (link), lib/libjitslab.a, lib/cmake/jitslab/jitslabConfig*.cmake,
#             lib/pkgconfig/jitslab.pc
#   orc       lib/libjitslab-orc-MAJOR.so, lib/cmake/jitslab/jitslab-orc-MAJOR.cmake,
#             lib/pkgconfig/jitslab-orc-MAJOR.pc, lib/libjitslab-preload-MAJOR.so and the
#             lib/libjitslab-preload-impl-MAJOR.so it loads from its own directory
#   tools     lib/jitslab/llvm-MAJOR/bin/jitslab-{run,repl,executor}, linked from
#             bin/jitslab-{run,repl,executor}-MAJOR (and from the plain names for the newest
#             major: JITSLAB_INSTALL_TOOL_LINKS)
#   doc       share/doc/jitslab: README.md, design.md, benchmarks.md
# (lib is CMAKE_INSTALL_LIBDIR: lib/x86_64-linux-gnu for the /usr prefix ./x configures.)
#
# Installed files find each other through $ORIGIN-relative run paths and relative paths in
# the CMake and pkg-config files, so a prefix can be moved (or unpacked with dpkg -x); nothing
# refers to the build tree. LLVM itself is Debian's: its libraries are found where Debian puts
# them (libLLVM in the default search path, libclang-cpp in /usr/lib/llvm-MAJOR/lib).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The version is the crate's (Cargo.toml), so the library, the packages and the CMake package
# agree.
file(STRINGS "${JITSLAB_ROOT}/Cargo.toml" JITSLAB_VERSION_LINE REGEX "^version = \"[0-9.]+\"$"
  LIMIT_COUNT 1)
string(REGEX REPLACE "^version = \"([0-9.]+)\"$" "\\1" JITSLAB_VERSION "${JITSLAB_VERSION_LINE}")
if(NOT JITSLAB_VERSION MATCHES "^[0-9]+\\.[0-9]+\\.[0-9]+$")
  message(FATAL_ERROR "no package version found in ${JITSLAB_ROOT}/Cargo.toml")
endif()
# Keep equal to SONAME in build.rs.
set(JITSLAB_SONAME libjitslab.so.0)

set(JITSLAB_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/jitslab")
set(JITSLAB_PCDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
set(JITSLAB_DOCDIR "${CMAKE_INSTALL_DATAROOTDIR}/doc/jitslab")
# The prefix as seen from the CMake and pkg-config files (../../.. for lib/cmake/jitslab).
file(RELATIVE_PATH JITSLAB_CMAKE_TO_PREFIX "/p/${JITSLAB_CMAKEDIR}" "/p")
file(RELATIVE_PATH JITSLAB_PC_TO_PREFIX "/p/${JITSLAB_PCDIR}" "/p")

# --- runtime and dev: the Rust library --------------------------------------------------
install(FILES "${JITSLAB_RUST_LIB}" RENAME "${JITSLAB_SONAME}"
  DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT runtime)
set(JITSLAB_STAGE "${CMAKE_CURRENT_BINARY_DIR}/install")
file(MAKE_DIRECTORY "${JITSLAB_STAGE}")
file(CREATE_LINK "${JITSLAB_SONAME}" "${JITSLAB_STAGE}/libjitslab.so" SYMBOLIC)
install(FILES "${JITSLAB_STAGE}/libjitslab.so" "${JITSLAB_RUST_STATIC_LIB}"
  DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT dev)
install(FILES "${JITSLAB_ROOT}/include/jitslab.h"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT dev)

# What a static link of libjitslab.a needs besides it (Rust's standard library's own needs).
set(JITSLAB_STATIC_DEPS "-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc")
configure_file(cmake/jitslab.pc.in "${JITSLAB_STAGE}/jitslab.pc" @ONLY)
configure_file(cmake/jitslabConfig.cmake.in "${JITSLAB_STAGE}/jitslabConfig.cmake" @ONLY)
write_basic_package_version_file("${JITSLAB_STAGE}/jitslabConfigVersion.cmake"
  VERSION "${JITSLAB_VERSION}" COMPATIBILITY SameMinorVersion)
install(FILES "${JITSLAB_STAGE}/jitslab.pc" DESTINATION "${JITSLAB_PCDIR}" COMPONENT dev)
install(FILES "${JITSLAB_STAGE}/jitslabConfig.cmake" "${JITSLAB_STAGE}/jitslabConfigVersion.cmake"
  DESTINATION "${JITSLAB_CMAKEDIR}" COMPONENT dev)

# --- orc: this major's shim and what a consumer needs to use it -----------------------------
set_target_properties(jitslab-orc PROPERTIES INSTALL_RPATH "\$ORIGIN")
install(TARGETS jitslab-orc LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT orc)
# The preload: the stub finds the implementation beside it, which finds the shim by $ORIGIN.
set_target_properties(jitslab-preload-impl PROPERTIES INSTALL_RPATH "\$ORIGIN")
install(TARGETS jitslab-preload jitslab-preload-impl LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  COMPONENT orc)
install(DIRECTORY include/jitslab DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT dev
  FILES_MATCHING PATTERN "*.h")
configure_file(cmake/jitslab-orc.pc.in "${JITSLAB_STAGE}/jitslab-orc-${MAJOR}.pc" @ONLY)
configure_file(cmake/jitslab-orc.cmake.in "${JITSLAB_STAGE}/jitslab-orc-${MAJOR}.cmake" @ONLY)
install(FILES "${JITSLAB_STAGE}/jitslab-orc-${MAJOR}.pc" DESTINATION "${JITSLAB_PCDIR}"
  COMPONENT orc)
install(FILES "${JITSLAB_STAGE}/jitslab-orc-${MAJOR}.cmake" DESTINATION "${JITSLAB_CMAKEDIR}"
  COMPONENT orc)

# --- tools: in a directory of this major's, as Debian keeps LLVM's own (/usr/lib/llvm-22/bin),
# with links in bin/ suffixed by the major (jitslab-run-22, as clang-repl-22) -----------------
option(JITSLAB_INSTALL_TOOL_LINKS
  "Also link the tools under their plain names in bin/ (jitslab-run, ...) to this major's"
  ${JITSLAB_NEWEST_MAJOR})
set(JITSLAB_TOOLDIR "${CMAKE_INSTALL_LIBDIR}/jitslab/llvm-${MAJOR}/bin")
file(RELATIVE_PATH JITSLAB_TOOL_TO_LIB "/p/${JITSLAB_TOOLDIR}" "/p/${CMAKE_INSTALL_LIBDIR}")
file(RELATIVE_PATH JITSLAB_BIN_TO_TOOL "/p/${CMAKE_INSTALL_BINDIR}" "/p/${JITSLAB_TOOLDIR}")
# jitslab-executor links everything statically and needs no run path.
set_target_properties(jitslab-run jitslab-repl PROPERTIES
  INSTALL_RPATH "\$ORIGIN/${JITSLAB_TOOL_TO_LIB};${LLVM_LIBRARY_DIR}")
foreach(tool jitslab-run jitslab-repl jitslab-executor)
  install(TARGETS ${tool} RUNTIME DESTINATION "${JITSLAB_TOOLDIR}" COMPONENT tools)
  file(CREATE_LINK "${JITSLAB_BIN_TO_TOOL}/${tool}" "${JITSLAB_STAGE}/${tool}-${MAJOR}" SYMBOLIC)
  install(FILES "${JITSLAB_STAGE}/${tool}-${MAJOR}" DESTINATION "${CMAKE_INSTALL_BINDIR}"
    COMPONENT tools)
  if(JITSLAB_INSTALL_TOOL_LINKS)
    file(CREATE_LINK "${tool}-${MAJOR}" "${JITSLAB_STAGE}/${tool}" SYMBOLIC)
    install(FILES "${JITSLAB_STAGE}/${tool}" DESTINATION "${CMAKE_INSTALL_BINDIR}"
      COMPONENT tools)
  endif()
endforeach()
install(FILES "${JITSLAB_ROOT}/README.md" "${JITSLAB_ROOT}/docs/design.md"
  "${JITSLAB_ROOT}/docs/benchmarks.md" DESTINATION "${JITSLAB_DOCDIR}" COMPONENT doc)
