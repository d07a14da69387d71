//===- Managers.h - the memory managers the tools choose by name ----------===//
//
// Part of the tools' support library: jitslab's manager and LLVM's own, in process and out of
// process, made by the names jitslab-run's and jitslab-repl's --memory take, so that they can
// be compared with everything else held equal.
//
//===----------------------------------------------------------------------===//
#ifndef JITSLAB_TOOLS_MANAGERS_H
#define JITSLAB_TOOLS_MANAGERS_H

#include "jitslab/MemoryManager.h"

#include "llvm/ExecutionEngine/JITLink/JITLinkMemoryManager.h"
#include "llvm/ExecutionEngine/Orc/ExecutorProcessControl.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <string>

namespace jitslab {

/// LLVM's MapperJITLinkMemoryManager over a SharedMemoryMapper (llvm-jitlink
/// -use-shared-memory), with `SlabSize` bytes reserved per slab. One addition: each new slab
/// is made readable in the executor by one extra call, without which LLVM 19's ORC runtime
/// crashes the stock executor (see ReadableSharedMemoryMapper in Managers.cpp).
llvm::Expected<std::unique_ptr<llvm::jitlink::JITLinkMemoryManager>>
createLLVMSharedMemoryManager(llvm::orc::ExecutorProcessControl &EPC, uint64_t SlabSize);

/// The memory manager that jitslab-run's and jitslab-repl's --memory=NAME names: "jitslab" (in
/// this process, or in the executor's shared memory when `OutOfProcess`; `Slab` is then set to
/// it), "llvm-inprocess", "llvm-mapper" (1 GiB slabs), "llvm-epc" or "llvm-shm" (1 GiB slabs).
/// The caller has checked that the name fits `OutOfProcess`.
llvm::Expected<std::unique_ptr<llvm::jitlink::JITLinkMemoryManager>>
createMemoryManagerByName(const std::string &Name, llvm::orc::ExecutorProcessControl &EPC,
                          bool OutOfProcess, const Config &C, MemoryManager *&Slab);

/// LLVM's EPCGenericJITLinkMemoryManager (the default out of process: bytes copied over the
/// connection at finalize).
llvm::Expected<std::unique_ptr<llvm::jitlink::JITLinkMemoryManager>>
createLLVMEPCManager(llvm::orc::ExecutorProcessControl &EPC);

} // namespace jitslab

#endif
