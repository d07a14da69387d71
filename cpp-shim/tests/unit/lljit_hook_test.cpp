//===- lljit_hook_test.cpp - jitslab::objectLinkingLayerCreator in a real LLJIT ----===//
//
// An LLJIT whose object layer comes from the one-line hook links the C++ workload
// (tests/workloads/cxx: static constructors, exceptions thrown in one object and caught in
// another, an inline function defined in two objects) and runs its main, whose exit status is
// 0 only if the constructors ran and every exception was caught. Checked twice: with LLJIT's
// inactive platform plus the hook's eh-frame registration, and with the ORC runtime
// (ExecutorNativePlatform, which registers frames itself). The test also checks that main's
// code lies in a jitslab reservation (a mapping of jitslab's memfd), so the hook cannot pass
// by leaving LLJIT's default manager in place.
//
//===----------------------------------------------------------------------===//

#include "jitslab/MemoryManager.h"
#include "jitslab/OrcCompat.h"

#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/TargetSelect.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace llvm;
using namespace llvm::orc;

extern "C" void *__dso_handle;

namespace {

/// The name of the /proc/self/maps entry that holds `Addr`, or "" if none does.
std::string mappingOf(uint64_t Addr) {
  std::ifstream Maps("/proc/self/maps");
  for (std::string Line; std::getline(Maps, Line);) {
    uint64_t Lo = 0, Hi = 0;
    if (std::sscanf(Line.c_str(), "%lx-%lx", &Lo, &Hi) == 2 && Lo <= Addr && Addr < Hi) {
      auto Slash = Line.find('/');
      return Slash == std::string::npos ? "[anonymous]" : Line.substr(Slash);
    }
  }
  return "";
}

/// Links the C++ workload in an LLJIT built with the hook, runs main and checks what it did.
void linkAndRunCxxWorkload(bool WithOrcRuntime) {
  InitializeNativeTarget();
  InitializeNativeTargetAsmPrinter();
  LLJITBuilder B;
  B.setObjectLinkingLayerCreator(jitslab::objectLinkingLayerCreator(
      jitslab::Config().setMapper(jitslab::Mapper::DualView).setSlabSize(256 << 20),
      /*RegisterEHFrames=*/!WithOrcRuntime));
  if (WithOrcRuntime)
    B.setPlatformSetUp(ExecutorNativePlatform(JITSLAB_ORC_RUNTIME));
  else
    B.setPlatformSetUp(setUpInactivePlatform);
  auto J = B.create();
  ASSERT_TRUE(!!J) << toString(J.takeError());

  for (const char *Path : {JITSLAB_CXX_MAIN, JITSLAB_CXX_SHAPES, JITSLAB_CXX_GEOMETRY}) {
    auto Buf = MemoryBuffer::getFile(Path);
    ASSERT_TRUE(!!Buf) << Path << ": " << Buf.getError().message();
    auto Err = (*J)->addObjectFile(std::move(*Buf));
    ASSERT_FALSE(!!Err) << toString(std::move(Err));
  }
  // Static constructors print while initialize runs.
  testing::internal::CaptureStdout();
  if (WithOrcRuntime) {
    auto Err = (*J)->initialize((*J)->getMainJITDylib());
    EXPECT_FALSE(!!Err) << toString(std::move(Err));
  }
  auto Main = (*J)->lookup("main");
  if (!Main) {
    std::string Out = testing::internal::GetCapturedStdout();
    FAIL() << toString(Main.takeError()) << "\n" << Out;
  }
  // Link everything main can reach before it runs (LLVM 19 loses inter-object dependencies).
  for (const char *Sym : {"_Z9makeShapeRKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEd",
                          "_Z9totalAreaRKSt6vectorINSt7__cxx1112basic_stringIcSt11char_"
                          "traitsIcESaIcEEESaIS5_EEdRi",
                          "_Z13registryCountv"}) {
    auto Addr = (*J)->lookup(Sym);
    EXPECT_TRUE(!!Addr) << (Addr ? "" : toString(Addr.takeError()));
  }

  EXPECT_EQ(mappingOf(Main->getValue()).rfind("/memfd:jitslab", 0), 0u)
      << "main is at " << mappingOf(Main->getValue()) << ", not in jitslab's slab";

  auto *MainFn = Main->toPtr<int (*)(int, char **)>();
  char Arg0[] = "cxx";
  char *Argv[] = {Arg0, nullptr};
  int Status = MainFn(1, Argv);
  if (WithOrcRuntime) {
    auto Err = (*J)->deinitialize((*J)->getMainJITDylib());
    EXPECT_FALSE(!!Err) << toString(std::move(Err));
  }
  std::fflush(stdout);
  std::string Out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(Status, 0) << "main's own checks failed; it printed:\n" << Out;
  EXPECT_NE(Out.find("main caught: unknown shape 'triangle'"), std::string::npos) << Out;
  EXPECT_NE(Out.find("caught std::out_of_range"), std::string::npos) << Out;
  if (WithOrcRuntime) {
    EXPECT_NE(Out.find("registry constructed with 2 kinds"), std::string::npos) << Out;
    EXPECT_NE(Out.find("registry destroyed"), std::string::npos) << Out;
  }
}

TEST(LLJITHookTest, CxxProgramWithEHFrameRegistrationByTheHook) {
  // Without a platform no static constructor runs, so main sees an empty registry and counts
  // every shape as an error: the status is not 0. Exceptions must still be caught.
  InitializeNativeTarget();
  LLJITBuilder B;
  B.setObjectLinkingLayerCreator(jitslab::objectLinkingLayerCreator(
      jitslab::Config().setMapper(jitslab::Mapper::DualView).setSlabSize(256 << 20)));
  B.setPlatformSetUp(setUpInactivePlatform);
  auto J = B.create();
  ASSERT_TRUE(!!J) << toString(J.takeError());
  for (const char *Path : {JITSLAB_CXX_MAIN, JITSLAB_CXX_SHAPES, JITSLAB_CXX_GEOMETRY}) {
    auto Buf = MemoryBuffer::getFile(Path);
    ASSERT_TRUE(!!Buf);
    ASSERT_FALSE(!!(*J)->addObjectFile(std::move(*Buf)));
  }
  // __dso_handle comes from the platform; without one, give the host's.
  ASSERT_FALSE(!!(*J)->getMainJITDylib().define(
      absoluteSymbols({{(*J)->mangleAndIntern("__dso_handle"),
                        {ExecutorAddr::fromPtr(&__dso_handle), JITSymbolFlags::Exported}}})));
  auto Total = (*J)->lookup("_Z9totalAreaRKSt6vectorINSt7__cxx1112basic_stringIcSt11char_"
                            "traitsIcESaIcEEESaIS5_EEdRi");
  ASSERT_TRUE(!!Total) << toString(Total.takeError());
  auto Make = (*J)->lookup("_Z9makeShapeRKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEd");
  ASSERT_TRUE(!!Make) << toString(Make.takeError());
  EXPECT_EQ(mappingOf(Total->getValue()).rfind("/memfd:jitslab", 0), 0u);

  // totalArea (geometry.o) catches what makeShape (shapes.o) throws for each unknown kind.
  auto *TotalArea = Total->toPtr<double (*)(const std::vector<std::string> &, double, int &)>();
  int Errors = 0;
  testing::internal::CaptureStdout();
  double Area = TotalArea({"circle", "hexagon"}, 2.0, Errors);
  std::string Out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(Errors, 2) << Out; // both unknown: the registry was never constructed
  EXPECT_EQ(Area, 0.0);
  EXPECT_NE(Out.find("caught: unknown shape 'hexagon'"), std::string::npos) << Out;
}

TEST(LLJITHookTest, CxxProgramWithTheOrcRuntime) { linkAndRunCxxWorkload(true); }

} // namespace
