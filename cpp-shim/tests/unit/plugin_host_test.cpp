//===- plugin_host_test.cpp - libjitslab-orc-MAJOR.so as a dlopen'd plugin ------===//
//
//   shim_plugin_host_test PATH/libjitslab-orc-MAJOR.so PATH/jit_payload.o
//
// A host that does not link the shim (nor libjitslab): it dlopens the shim, finds the factory
// named by JITSLAB_ORC_PLUGIN_SYMBOL, and links and runs an object through an
// ObjectLinkingLayer whose memory manager the plugin made. Also checks that the factory
// refuses a host built for another plugin version or another LLVM major version, with a
// message, and that a bad configuration is reported rather than crashing.
//
//===----------------------------------------------------------------------===//

#include "jitslab/OrcCompat.h" // SelfExecutorProcessControl's header (no code of the shim)
#include "jitslab/orc.h"

#include "llvm/Config/llvm-config.h"
#include "llvm/ExecutionEngine/JITLink/JITLinkMemoryManager.h"
#include "llvm/ExecutionEngine/Orc/Core.h"
#include "llvm/ExecutionEngine/Orc/ExecutorProcessControl.h"
#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"
#include "llvm/Support/MemoryBuffer.h"

#include <gtest/gtest.h>

#include "test_support.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <typeinfo>

using namespace llvm;
using namespace llvm::orc;

namespace {

const char *PluginPath = nullptr;
const char *PayloadPath = nullptr;

/// The plugin, opened once for all tests.
class PluginHostTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    // The host must really be a host: if it were linked with the shim, the factory would be
    // found without dlopen and this test would prove nothing.
    ASSERT_EQ(dlsym(RTLD_DEFAULT, JITSLAB_ORC_PLUGIN_SYMBOL), nullptr)
        << "the test host is linked with the shim; it must only dlopen it";
    Handle = dlopen(PluginPath, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(Handle, nullptr) << "dlopen(" << PluginPath << "): " << dlerror();
    void *Sym = dlsym(Handle, JITSLAB_ORC_PLUGIN_SYMBOL);
    ASSERT_NE(Sym, nullptr) << PluginPath << " does not export " << JITSLAB_ORC_PLUGIN_SYMBOL
                            << ": " << dlerror();
    Create = reinterpret_cast<JitslabOrcPluginCreate>(Sym);
  }

  void SetUp() override {
    // A failed SetUpTestSuite leaves Create null; every test then fails, none passes.
    ASSERT_NE(Create, nullptr) << "the plugin factory was not found";
  }

  static void *Handle;
  static JitslabOrcPluginCreate Create;
};

void *PluginHostTest::Handle = nullptr;
JitslabOrcPluginCreate PluginHostTest::Create = nullptr;

TEST_F(PluginHostTest, LinksAndRunsAnObject) {
  const char *Err = nullptr;
  void *Raw = Create(JITSLAB_ORC_PLUGIN_VERSION, LLVM_VERSION_MAJOR, nullptr, &Err);
  ASSERT_NE(Raw, nullptr) << (Err ? Err : "(no message)");
  std::unique_ptr<jitlink::JITLinkMemoryManager> MM(
      static_cast<jitlink::JITLinkMemoryManager *>(Raw));
  const jitlink::JITLinkMemoryManager &Made = *MM;
  EXPECT_NE(std::string(typeid(Made).name()).find("jitslab"), std::string::npos)
      << "the plugin returned a manager that is not jitslab's: " << typeid(Made).name();

  auto EPC = SelfExecutorProcessControl::Create();
  ASSERT_EXPECTED(EPC);
  ExecutionSession ES(std::move(*EPC));
  ObjectLinkingLayer Layer(ES, std::move(MM));
  AtScopeExit EndSession([&] { consumeError(ES.endSession()); });
  JITDylib &JD = ES.createBareJITDylib("payload");

  auto Obj = MemoryBuffer::getFile(PayloadPath);
  ASSERT_TRUE(static_cast<bool>(Obj)) << PayloadPath << ": " << Obj.getError().message();
  ASSERT_NO_ERROR(Layer.add(JD, std::move(*Obj)));
  auto Step = ES.lookup({&JD}, ES.intern("jitslab_payload_step"));
  ASSERT_EXPECTED(Step);
  auto Greeting = ES.lookup({&JD}, ES.intern("jitslab_payload_greeting"));
  ASSERT_EXPECTED(Greeting);
  auto *StepFn = Step->getAddress().toPtr<int (*)()>();
  EXPECT_EQ(StepFn(), 141);
  EXPECT_EQ(StepFn(), 242);
  EXPECT_STREQ(Greeting->getAddress().toPtr<const char *(*)()>()(), "hello from a JIT'd object");
}

TEST_F(PluginHostTest, RefusesAnotherPluginVersion) {
  const char *Err = nullptr;
  void *Raw = Create(JITSLAB_ORC_PLUGIN_VERSION + 1, LLVM_VERSION_MAJOR, nullptr, &Err);
  EXPECT_EQ(Raw, nullptr) << "a host built for another plugin version was accepted";
  ASSERT_NE(Err, nullptr);
  std::string Msg = Err;
  EXPECT_NE(Msg.find("plugin version " + std::to_string(JITSLAB_ORC_PLUGIN_VERSION + 1)),
            std::string::npos)
      << Msg;
  // No error pointer: still refused, no crash.
  EXPECT_EQ(Create(JITSLAB_ORC_PLUGIN_VERSION + 1, LLVM_VERSION_MAJOR, nullptr, nullptr), nullptr);
}

TEST_F(PluginHostTest, RefusesAnotherLLVMMajor) {
  const char *Err = nullptr;
  void *Raw = Create(JITSLAB_ORC_PLUGIN_VERSION, LLVM_VERSION_MAJOR - 1, nullptr, &Err);
  EXPECT_EQ(Raw, nullptr) << "a host using another LLVM major version was accepted";
  ASSERT_NE(Err, nullptr);
  std::string Msg = Err;
  EXPECT_NE(Msg.find("LLVM " + std::to_string(LLVM_VERSION_MAJOR - 1)), std::string::npos) << Msg;
}

TEST_F(PluginHostTest, ReportsABadConfiguration) {
  // libjitslab comes in with the plugin; its defaults are found the same way.
  auto *Defaults = reinterpret_cast<JitslabConfig (*)()>(dlsym(Handle, "jitslab_config_default"));
  ASSERT_NE(Defaults, nullptr) << dlerror();
  JitslabConfig C = Defaults();
  const uint64_t Page = uint64_t(sysconf(_SC_PAGESIZE));
  C.chunk_bytes = 3 * Page; // not a power of two
  C.log_fallback = 0;
  const char *Err = nullptr;
  void *Raw = Create(JITSLAB_ORC_PLUGIN_VERSION, LLVM_VERSION_MAJOR, &C, &Err);
  EXPECT_EQ(Raw, nullptr) << "a chunk size of three pages was accepted";
  ASSERT_NE(Err, nullptr);
  char Expected[64];
  std::snprintf(Expected, sizeof(Expected), "chunk size %#llx", (unsigned long long)(3 * Page));
  EXPECT_NE(std::string(Err).find(Expected), std::string::npos) << Err;
}

} // namespace

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s PATH/libjitslab-orc-MAJOR.so PATH/jit_payload.o\n", argv[0]);
    return 2;
  }
  PluginPath = argv[1];
  PayloadPath = argv[2];
  return RUN_ALL_TESTS();
}
