//===- executor_bad_input.cpp - no input kills jitslab-executor -------------------===//
//
// executor_bad_input EXECUTOR [SEED]
//
// Starts EXECUTOR (jitslab-executor) with `filedescs=0,1` over pipes, once per case, and feeds
// it what a broken or hostile controller could send: each class of bad frame (a huge length,
// a length below the header's, a frame cut short in its header and in its payload, an unknown
// opcode, headers that break the protocol's rules, a Result for no call, a Setup), the 5000
// random bytes of issue 16, a frame over a lowered `max-frame=`, malformed SPS in calls to
// jitslab's native wrappers inside a session that holds a region named in /dev/shm, and 1000
// seeded random frames (100 sessions that each set a region up, then make 9 calls to jitslab's
// wrappers with random arguments, each of which must get a reply, then send one random bad
// frame).
//
// Every session must end with exit status 1 (not a signal: no abort, no core), stderr one line
// `jitslab-executor: error: ...` naming what was wrong (the case's expected words), and no
// shared-memory object of the executor's left in /dev/shm (jitslab's `jitslab-PID-*`, LLVM's
// `jitlink_PID_*`). Prints "executor_bad_input: ok (N sessions, F frames)" when all pass; on
// the first failure, what failed and the executor's stderr, and exits 1.
//
// Runs in a couple of seconds: each session is one short-lived executor process.
//
//===----------------------------------------------------------------------===//

#include "jitslab.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

const char *Executor;
unsigned Sessions = 0, FramesSent = 0;

[[noreturn]] void fail(const std::string &Msg) {
  std::printf("executor_bad_input: FAILED: %s\n", Msg.c_str());
  std::exit(1);
}

/// splitmix64: a small seeded generator, so a failing seed replays exactly.
struct Rng {
  uint64_t S;
  uint64_t next() {
    uint64_t Z = (S += 0x9e3779b97f4a7c15);
    Z = (Z ^ (Z >> 30)) * 0xbf58476d1ce4e5b9;
    Z = (Z ^ (Z >> 27)) * 0x94d049bb133111eb;
    return Z ^ (Z >> 31);
  }
  uint64_t below(uint64_t N) { return next() % N; }
  std::string bytes(size_t N) {
    std::string B(N, '\0');
    for (char &C : B)
      C = static_cast<char>(next());
    return B;
  }
};

// --- bytes on the wire: SPS (little-endian integers, u64-length strings) and frames ----------

void putU64(std::string &B, uint64_t V) {
  for (int I = 0; I < 8; ++I)
    B.push_back(static_cast<char>(V >> (8 * I)));
}

enum Opcode : uint64_t { Setup = 0, Hangup = 1, Result = 2, CallWrapper = 3 };

std::string frame(uint64_t OpC, uint64_t SeqNo, uint64_t Tag, const std::string &Payload) {
  std::string B;
  putU64(B, 32 + Payload.size());
  putU64(B, OpC);
  putU64(B, SeqNo);
  putU64(B, Tag);
  return B + Payload;
}

/// A header alone, whatever size it claims.
std::string header(uint64_t Size, uint64_t OpC, uint64_t SeqNo, uint64_t Tag) {
  std::string B;
  for (uint64_t V : {Size, OpC, SeqNo, Tag})
    putU64(B, V);
  return B;
}

struct Reader {
  const std::string &B;
  size_t Pos = 0;
  uint64_t u64() {
    if (B.size() - Pos < 8)
      fail("the executor's Setup message is truncated");
    uint64_t V = 0;
    for (int I = 0; I < 8; ++I)
      V |= uint64_t(static_cast<unsigned char>(B[Pos + I])) << (8 * I);
    Pos += 8;
    return V;
  }
  std::string str() {
    uint64_t N = u64();
    if (B.size() - Pos < N)
      fail("the executor's Setup message is truncated");
    std::string S = B.substr(Pos, N);
    Pos += N;
    return S;
  }
};

/// The bootstrap symbols of a Setup message's payload: (triple, page size,
/// [(name, bytes)] bootstrap map, [(name, address)] symbols), in SPS.
std::map<std::string, uint64_t> bootstrapSymbols(const std::string &Payload) {
  Reader R{Payload};
  R.str();
  R.u64();
  for (uint64_t N = R.u64(); N > 0; --N) {
    R.str();
    R.str();
  }
  std::map<std::string, uint64_t> Syms;
  for (uint64_t N = R.u64(); N > 0; --N) {
    std::string Name = R.str();
    Syms[Name] = R.u64();
  }
  return Syms;
}

// --- one executor process -----------------------------------------------------------------

/// Shared-memory objects in /dev/shm that belong to process `Pid`.
std::vector<std::string> shmOf(pid_t Pid) {
  std::string Jitslab = "jitslab-" + std::to_string(Pid) + "-";
  std::string Llvm = "jitlink_" + std::to_string(Pid) + "_";
  std::vector<std::string> Found;
  if (DIR *D = opendir("/dev/shm")) {
    while (dirent *E = readdir(D)) {
      std::string N = E->d_name;
      if (N.rfind(Jitslab, 0) == 0 || N.rfind(Llvm, 0) == 0)
        Found.push_back(N);
    }
    closedir(D);
  }
  return Found;
}

struct Frame {
  uint64_t OpC, SeqNo, Tag;
  std::string Payload;
};

class Session {
public:
  std::string Name;
  pid_t Pid = -1;

  Session(std::string Name, const std::vector<std::string> &Extra = {}) : Name(std::move(Name)) {
    int In[2], Out[2], Err[2];
    if (pipe2(In, O_CLOEXEC) || pipe2(Out, O_CLOEXEC) || pipe2(Err, O_CLOEXEC))
      fail("pipe: " + std::string(std::strerror(errno)));
    Pid = fork();
    if (Pid < 0)
      fail("fork: " + std::string(std::strerror(errno)));
    if (Pid == 0) {
      dup2(In[0], 0);
      dup2(Out[1], 1);
      dup2(Err[1], 2);
      std::vector<const char *> Argv = {Executor, "filedescs=0,1"};
      for (const std::string &A : Extra)
        Argv.push_back(A.c_str());
      Argv.push_back(nullptr);
      execv(Executor, const_cast<char *const *>(Argv.data()));
      _exit(127);
    }
    close(In[0]);
    close(Out[1]);
    close(Err[1]);
    InW = In[1];
    OutR = Out[0];
    ErrR = Err[0];
    ++Sessions;
  }

  /// Writes bytes; the executor may already have refused and closed its end (EPIPE).
  void send(const std::string &B) {
    for (size_t Done = 0; Done < B.size();) {
      ssize_t N = write(InW, B.data() + Done, B.size() - Done);
      if (N < 0 && errno == EINTR)
        continue;
      if (N < 0)
        return;
      Done += size_t(N);
    }
  }
  void sendFrame(const std::string &B) {
    ++FramesSent;
    send(B);
  }

  /// The next frame the executor writes, within 10 s.
  Frame receive() {
    std::string H = readOut(32);
    Reader R{H};
    uint64_t Size = R.u64();
    Frame F{R.u64(), R.u64(), R.u64(), ""};
    if (Size < 32 || Size > (64u << 20))
      fail(Name + ": the executor wrote a frame of size " + std::to_string(Size));
    F.Payload = readOut(Size - 32);
    return F;
  }

  /// Closes the executor's input, waits (10 s at most) for it to exit and checks the end: exit
  /// status 1, one stderr line naming `Expect`, nothing of its left in /dev/shm.
  void expectRefusal(const std::string &Expect) {
    close(InW);
    std::string Err = drain();
    int Status = 0;
    auto Deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (waitpid(Pid, &Status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > Deadline) {
        kill(Pid, SIGKILL);
        waitpid(Pid, &Status, 0);
        fail(Name + ": the executor did not exit within 10 s of its input's end");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    std::string Why = Name + " (stderr: " + Err + ")";
    if (WIFSIGNALED(Status))
      fail(Why + ": the executor died of signal " + std::to_string(WTERMSIG(Status)));
    if (WEXITSTATUS(Status) != 1)
      fail(Why + ": exit status " + std::to_string(WEXITSTATUS(Status)) + ", expected 1");
    const std::string Prefix = "jitslab-executor: error: ";
    if (Err.rfind(Prefix, 0) != 0 || Err.find('\n') != Err.size() - 1)
      fail(Why + ": expected one line starting '" + Prefix + "'");
    if (Err.find(Expect) == std::string::npos)
      fail(Why + ": the message does not say '" + Expect + "'");
    std::vector<std::string> Left = shmOf(Pid);
    if (!Left.empty())
      fail(Why + ": left /dev/shm/" + Left.front());
  }

private:
  int InW = -1, OutR = -1, ErrR = -1;

  std::string readOut(size_t N) {
    std::string B(N, '\0');
    for (size_t Done = 0; Done < N;) {
      pollfd P{OutR, POLLIN, 0};
      if (poll(&P, 1, 10000) != 1)
        fail(Name + ": no reply from the executor within 10 s");
      ssize_t Got = read(OutR, &B[Done], N - Done);
      if (Got <= 0)
        fail(Name + ": the executor's output ended mid-frame");
      Done += size_t(Got);
    }
    return B;
  }

  /// Reads the executor's stdout (discarded) and stderr (returned) to their ends.
  std::string drain() {
    std::string Err;
    char Buf[4096];
    pollfd P[2] = {{OutR, POLLIN, 0}, {ErrR, POLLIN, 0}};
    while (P[0].fd >= 0 || P[1].fd >= 0) {
      if (poll(P, 2, 10000) <= 0)
        fail(Name + ": the executor's output did not end within 10 s");
      for (int I = 0; I < 2; ++I) {
        if (P[I].fd < 0 || !P[I].revents)
          continue;
        ssize_t N = read(P[I].fd, Buf, sizeof(Buf));
        if (N > 0 && I == 1)
          Err.append(Buf, size_t(N));
        if (N <= 0) {
          close(P[I].fd);
          P[I].fd = -1;
        }
      }
    }
    return Err;
  }
};

// --- the cases ------------------------------------------------------------------------------

void refused(const std::string &Name, const std::string &Input, const std::string &Expect,
             const std::vector<std::string> &Extra = {}) {
  Session S(Name, Extra);
  S.sendFrame(Input);
  S.expectRefusal(Expect);
}

void eachClassOfBadFrame() {
  refused("huge length", header(uint64_t(1) << 62, CallWrapper, 1, 0x1000),
          "frame 0 (sequence number 1): frame of 0x4000000000000000 bytes is larger than the "
          "limit, 0x20000000 bytes");
  refused("length below the header", header(8, CallWrapper, 1, 0x1000),
          "malformed header: frame size 8 is smaller than the 32-byte header");
  refused("truncated header", header(64, CallWrapper, 1, 0x1000).substr(0, 20),
          "frame 0: truncated frame: the input ended after 20 of the header's 32 bytes");
  refused("truncated payload", header(32 + 100, CallWrapper, 1, 0x1000) + std::string(40, 'x'),
          "truncated frame: the input ended after 40 of its 100 payload bytes");
  refused("unknown opcode", frame(9, 1, 0, ""), "unknown opcode 9");
  refused("Hangup with a tag", frame(Hangup, 0, 0x1234, ""),
          "a Hangup with sequence number 0 and tag address 0x1234");
  refused("Result with a tag", frame(Result, 1, 0x1234, ""), "a Result with tag address 0x1234");
  refused("call to address 0", frame(CallWrapper, 1, 0, ""), "a CallWrapper to address 0");
  refused("Setup from the controller", frame(Setup, 0, 0, ""), "Unexpected Setup opcode");
  refused("Result for no call", frame(Result, 77, 0, ""), "frame 0 (Result, sequence number 77)");
  refused("frame over max-frame", frame(CallWrapper, 1, 0x1000, std::string(5000, 'x')),
          "larger than the limit, 0x1000 bytes", {"max-frame=4096"});
  Rng R{16};
  refused("the 5000 random bytes of issue 16", R.bytes(5000), "frame 0");
}

/// The executor's bootstrap symbols, from the Setup message it sends first.
std::map<std::string, uint64_t> readSetup(Session &S) {
  Frame F = S.receive();
  if (F.OpC != Setup)
    fail(S.Name + ": the executor's first frame has opcode " + std::to_string(F.OpC));
  return bootstrapSymbols(F.Payload);
}

/// Calls a wrapper and returns its reply's payload, checking the reply answers the call.
std::string call(Session &S, uint64_t Fn, uint64_t SeqNo, const std::string &Args) {
  S.sendFrame(frame(CallWrapper, SeqNo, Fn, Args));
  Frame F = S.receive();
  if (F.OpC != Result || F.SeqNo != SeqNo)
    fail(S.Name + ": call " + std::to_string(SeqNo) + " got opcode " + std::to_string(F.OpC) +
         " sequence number " + std::to_string(F.SeqNo) + " back");
  return F.Payload;
}

uint64_t symbol(const std::map<std::string, uint64_t> &Syms, const std::string &Name) {
  auto It = Syms.find(Name);
  if (It == Syms.end())
    fail("the executor publishes no " + Name);
  return It->second;
}

/// Sets up a 1 MiB region through jitslab's wrapper (`setup(version u32, span u64, sharing
/// u8)`; sharing 1 names it in /dev/shm) and returns its handle.
uint64_t setupRegion(Session &S, const std::map<std::string, uint64_t> &Syms, uint64_t SeqNo,
                     char Sharing) {
  std::string Args;
  for (int I = 0; I < 4; ++I)
    Args.push_back(static_cast<char>(JITSLAB_EXECUTOR_PROTOCOL_VERSION >> (8 * I)));
  putU64(Args, 1 << 20);
  Args.push_back(Sharing);
  std::string Reply = call(S, symbol(Syms, "__jitslab_executor_setup"), SeqNo, Args);
  // Expected<(handle u64, ...)>: a true byte, then the handle.
  if (Reply.size() < 9 || Reply[0] != 1)
    fail(S.Name + ": the region's setup failed");
  Reader R{Reply};
  R.Pos = 1;
  return R.u64();
}

/// Malformed SPS to jitslab's wrappers gets an error reply and the session goes on; a bad
/// frame then ends it and the region it holds, named in /dev/shm, goes with it.
void badSpsInASessionWithARegion() {
  Session S("bad SPS with a named region");
  auto Syms = readSetup(S);
  setupRegion(S, Syms, 1, 1);
  if (shmOf(S.Pid).empty())
    fail(S.Name + ": the named region is not in /dev/shm");
  std::string Bad = call(S, symbol(Syms, "__jitslab_executor_finalize"), 2, "\x01\x02\x03");
  if (Bad.find("finalize") == std::string::npos)
    fail(S.Name + ": three bytes to finalize got no error naming it");
  S.sendFrame(frame(42, 3, 0, ""));
  S.expectRefusal("frame 2 (sequence number 3): unknown opcode 42");
}

/// A random frame that ends the session: a header of random words, a plausible size with a
/// random opcode above the last, or a header cut short.
std::string randomBadFrame(Rng &R) {
  switch (R.below(3)) {
  case 0:
    return R.bytes(32 + R.below(64));
  case 1: {
    uint64_t Len = R.below(256);
    return header(32 + Len, 4 + R.below(1000), R.next(), R.next()) + R.bytes(Len);
  }
  default:
    return R.bytes(1 + R.below(31)); // not 0 bytes: that is a clean end
  }
}

/// 1000 seeded random frames in 100 sessions: each sets a region up (named in /dev/shm in
/// every other session), then makes 9 calls to jitslab's wrappers with random arguments
/// (random bytes, or the region's handle then random bytes), each of which must be answered,
/// then sends one random bad frame that ends the session and the region with it.
void randomFrames(uint64_t Seed) {
  Rng R{Seed};
  for (int I = 0; I < 100; ++I) {
    Session S("random session " + std::to_string(I) + " of seed " + std::to_string(Seed));
    auto Syms = readSetup(S);
    std::vector<uint64_t> Wrappers;
    for (auto &[Name, Addr] : Syms)
      if (Name.rfind("__jitslab_executor_", 0) == 0)
        Wrappers.push_back(Addr);
    if (Wrappers.size() != 4)
      fail(S.Name + ": expected jitslab's 4 wrappers, found " + std::to_string(Wrappers.size()));
    uint64_t Handle = setupRegion(S, Syms, 1, static_cast<char>(I % 2));
    for (uint64_t Seq = 2; Seq <= 10; ++Seq) {
      std::string Args;
      if (R.below(2))
        putU64(Args, Handle);
      Args += R.bytes(R.below(96));
      call(S, Wrappers[R.below(Wrappers.size())], Seq, Args);
    }
    S.sendFrame(randomBadFrame(R));
    S.expectRefusal("frame 10");
  }
}

} // namespace

int main(int Argc, char **Argv) {
  if (Argc < 2 || Argc > 3) {
    std::fprintf(stderr, "usage: executor_bad_input EXECUTOR [SEED]\n");
    return 2;
  }
  Executor = Argv[1];
  uint64_t Seed = Argc == 3 ? std::strtoull(Argv[2], nullptr, 0) : 1616;
  signal(SIGPIPE, SIG_IGN); // an executor that refused has closed its input
  eachClassOfBadFrame();
  badSpsInASessionWithARegion();
  randomFrames(Seed);
  std::printf("executor_bad_input: ok (%u sessions, %u frames)\n", Sessions, FramesSent);
  return 0;
}
