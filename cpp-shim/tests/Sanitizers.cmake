# The ctest side of the sanitizer builds (-DJITSLAB_SANITIZE=address|thread, see
# cmake/Sanitize.cmake and docs/sanitizers.md), in one place:
#
#   - which tests cannot run under which sanitizer, and why: they stay in the list, DISABLED,
#     and the configure step prints each with its reason;
#   - the `threads` label: the tests whose threads share jitslab's state (the manager under
#     concurrent links, the executor service under concurrent calls, group commit), which
#     `./x test --sanitize=thread` runs (`ctest -L threads`);
#   - the `sanitize-subset` label: what `./x test` runs under ASan on every CI run, chosen to
#     build and run in a few minutes on a 2-core machine (`./x test --sanitize=address
#     --subset` alone);
#   - the sanitizers' options and suppression files (tests/sanitizers/), for every test.
#
# Included by tests/CMakeLists.txt before its tests; each directory that adds tests calls
# jitslab_sanitizer_properties() after them (a directory can set only its own tests'
# properties).

# jitslab_not_under(SANITIZER REGEX REASON): tests whose names match REGEX do not run under
# SANITIZER (address or thread).
set(JITSLAB_NOT_UNDER_address "")
set(JITSLAB_NOT_UNDER_thread "")
macro(jitslab_not_under SANITIZER REGEX REASON)
  list(APPEND JITSLAB_NOT_UNDER_${SANITIZER} "${REGEX}")
  set(JITSLAB_NOT_UNDER_${SANITIZER}_${REGEX} "${REASON}")
endmacro()

# jitslab_no_leak_check(REGEX REASON): tests whose names match REGEX run under ASan without
# LeakSanitizer (every other check stays).
set(JITSLAB_NO_LEAK_CHECK "")
macro(jitslab_no_leak_check REGEX REASON)
  list(APPEND JITSLAB_NO_LEAK_CHECK "${REGEX}")
  set(JITSLAB_NO_LEAK_CHECK_${REGEX} "${REASON}")
endmacro()

jitslab_no_leak_check("^(run_|codemodel_)"
  "JIT'd code runs in the instrumented process: the ORC runtime's heap objects are referenced only from JIT'd memory, which LSan does not scan (a mapping, not a module's globals), and the frames of JIT'd code cannot be unwound to suppress them; LLVM's own managers show the same")
jitslab_no_leak_check("^repl_"
  "jitslab-repl ends a session without tearing clang's Interpreter down, on purpose (tools/jitslab-repl/main.cpp: LLVM's teardown is unsafe out of process), and in process JIT'd code holds heap as above")
jitslab_no_leak_check("_kill_trials_"
  "jitslab-run, in 1 trial in 15 to 50, did not end within the trial's 10 s: caught in gdb in exit(), where LeakSanitizer's check spun in StopTheWorld against threads a killed run left behind; what a run cut short holds is no leak of ours to find")
jitslab_not_under(address "^repl_undo_"
  "measures how much the executor's RSS grows over undo rounds: ASan's shadow memory and quarantine grow it by themselves")
jitslab_not_under(address "^(repl_.*_llvm_inprocess|codemodel_llvm_inprocess_out_of_range)$"
  "LLVM's own in-process manager maps each object apart, so whether its links stay within 2 GiB depends on where mmap puts them, which ASan's shadow and allocator change: its repl sessions failed with out-of-range Delta32 fixups, and its expected out-of-range failure did not come")
jitslab_not_under(address "^preload_"
  "LD_PRELOADs the instrumented shim into Debian's uninstrumented clang-repl, lli and llvm-jitlink: the ASan runtime would have to be the first library of those processes")

# Threads: the tools' warm threads (WarmThreads, WarmTaskDispatcher), the manager under
# concurrent links (jitslab-run's ORC dispatcher links objects on
# several threads; the gtest suite's concurrent allocations), the executor service under
# concurrent calls (jitslab-executor serves each call on a thread of its own) and group commit
# (the native protocol's finalize rounds, which finalizes from several threads join).
set(JITSLAB_THREADS_TESTS
  shim_warm_threads_test
  shim_segment_alloc_test
  shim_remote_service_test
  shim_native_executor_test
  run_synth2000
  jnative_synth2000_jitslab
  jnative_sqlite_stats
  jnative_ehframe_rpc_count
  jnative_rpc_count
  jexec_synth2000_jitslab)

# What `./x test` runs under ASan: the gtest suites and whole links in process and in
# jitslab-executor with both protocols.
set(JITSLAB_SANITIZE_SUBSET_TESTS
  shim_segment_alloc_test
  shim_resource_tracker_test
  shim_plugin_host_test
  shim_lljit_hook_test
  shim_remote_service_test
  shim_native_executor_test
  run_zlib_jitslab
  run_cxx_jitslab
  run_synth2000
  jnative_sqlite_jitslab
  jnative_cxx_jitslab
  jnative_synth2000_jitslab
  jnative_ehframe_rpc_count
  jexec_sqlite_jitslab
  jexec_bad_input)

set(JITSLAB_SANITIZER_DIR "${JITSLAB_ROOT}/tests/sanitizers")

function(jitslab_sanitizer_properties)
  get_property(TESTS DIRECTORY PROPERTY TESTS)
  foreach(T ${TESTS})
    if(T IN_LIST JITSLAB_THREADS_TESTS)
      set_property(TEST ${T} APPEND PROPERTY LABELS threads)
    endif()
    if(T IN_LIST JITSLAB_SANITIZE_SUBSET_TESTS)
      set_property(TEST ${T} APPEND PROPERTY LABELS sanitize-subset)
    endif()
  endforeach()
  if(NOT JITSLAB_SANITIZE)
    return()
  endif()

  # Every finding ends the process with a non-zero status (compare.sh compares statuses, so a
  # finding in a whole link fails its test too); reports go to stderr with stacks.
  set(SUPP "${JITSLAB_SANITIZER_DIR}")
  if(JITSLAB_SANITIZE STREQUAL "address")
    set(ENV_VARS
      "ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1"
      "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
    if(EXISTS "${SUPP}/lsan.supp")
      list(APPEND ENV_VARS "LSAN_OPTIONS=suppressions=${SUPP}/lsan.supp:print_suppressions=0")
    endif()
  else()
    set(TSAN "halt_on_error=1:second_deadlock_stack=1")
    if(EXISTS "${SUPP}/tsan.supp")
      string(APPEND TSAN ":suppressions=${SUPP}/tsan.supp:print_suppressions=0")
    endif()
    set(ENV_VARS "TSAN_OPTIONS=${TSAN}")
  endif()
  foreach(T ${TESTS})
    set(VARS ${ENV_VARS})
    if(JITSLAB_SANITIZE STREQUAL "address")
      set(LEAKS 1)
      foreach(RE ${JITSLAB_NO_LEAK_CHECK})
        if(T MATCHES "${RE}")
          set(LEAKS 0)
          list(APPEND NO_LEAKS_${RE} ${T})
        endif()
      endforeach()
      list(TRANSFORM VARS REPLACE "^ASAN_OPTIONS=detect_leaks=1" "ASAN_OPTIONS=detect_leaks=${LEAKS}")
    endif()
    set_property(TEST ${T} APPEND PROPERTY ENVIRONMENT ${VARS})
    foreach(RE ${JITSLAB_NOT_UNDER_${JITSLAB_SANITIZE}})
      if(T MATCHES "${RE}")
        set_property(TEST ${T} PROPERTY DISABLED TRUE)
        list(APPEND DISABLED_${RE} ${T})
        break()
      endif()
    endforeach()
  endforeach()
  # One line per rule: the reason and the tests it took.
  foreach(RE ${JITSLAB_NOT_UNDER_${JITSLAB_SANITIZE}})
    if(DISABLED_${RE})
      list(JOIN DISABLED_${RE} " " NAMES)
      message(STATUS "not under ${JITSLAB_SANITIZE}: ${NAMES}: "
        "${JITSLAB_NOT_UNDER_${JITSLAB_SANITIZE}_${RE}}")
    endif()
  endforeach()
  foreach(RE ${JITSLAB_NO_LEAK_CHECK})
    if(NO_LEAKS_${RE})
      list(JOIN NO_LEAKS_${RE} " " NAMES)
      message(STATUS "no leak check: ${NAMES}: ${JITSLAB_NO_LEAK_CHECK_${RE}}")
    endif()
  endforeach()
endfunction()
