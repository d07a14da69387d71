//===- bad_executor_relay.cpp - an executor that turns bad after its Setup --------===//
//
// A stand-in executor for controller_bad_input.sh. Started by a controller as
// `bad_executor_relay filedescs=IN,OUT`, it starts the real executor named by
// JITSLAB_RELAY_EXECUTOR on a pipe pair of its own and relays between the two: every byte from
// the controller to the executor as it comes, and the executor's frames back one by one. The
// first frame (the executor's Setup) passes untouched, so the handshake succeeds; in place of
// the second (the answer to the controller's first call) it sends what JITSLAB_RELAY_MODE
// names, then relays the rest (a controller that survived the bad frame would otherwise wait
// for ever), except after the cut modes, which end the input:
//   huge         a header whose size is 2^62
//   small        a header whose size is 8, below the header's own 32 bytes
//   opcode       opcode 9
//   setup        a second Setup
//   result-tag   a Result with a tag address
//   cut-header   20 bytes of a header, then the end of input
//   cut-payload  a header promising 4096 payload bytes, 100 of them, then the end of input
//   sequence     a Result for a call never made (sequence number 999999)
//   sps          the real answer's header with its payload replaced by bytes that are no SPS
//   random       5000 bytes from a fixed seed
// It then waits for the controller to hang up or die, kills the real executor and exits.
// One mode acts before the second frame:
//   deaf         closes the controller's pipe to it before passing the Setup on, and never
//                writes again: the controller's first call fails to be sent (EPIPE), while its
//                reading side sees no end of input. The relay then waits until the
//                controller's reading end is gone, kills the real executor and exits.
//
//===----------------------------------------------------------------------===//

#include <poll.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void die(const std::string &Msg) {
  std::fprintf(stderr, "bad_executor_relay: %s\n", Msg.c_str());
  std::_Exit(2);
}

bool readExactly(int FD, void *Dst, size_t N) {
  auto *P = static_cast<char *>(Dst);
  while (N > 0) {
    ssize_t R = read(FD, P, N);
    if (R <= 0)
      return false;
    P += R;
    N -= static_cast<size_t>(R);
  }
  return true;
}

void writeAll(int FD, const void *Src, size_t N) {
  auto *P = static_cast<const char *>(Src);
  while (N > 0) {
    ssize_t W = write(FD, P, N);
    if (W <= 0)
      return; // the controller is gone; nothing left to tell it
    P += W;
    N -= static_cast<size_t>(W);
  }
}

/// A frame header: size, opcode, sequence number, tag address (little-endian u64s; x86-64).
struct Header {
  uint64_t Size, OpC, SeqNo, TagAddr;
};
static_assert(sizeof(Header) == 32, "the wire header is four u64s");

void sendHeader(int FD, Header H) { writeAll(FD, &H, sizeof(H)); }

/// Reads one whole frame of at most 1 GiB; false at the end of input or on a bad size.
bool readFrame(int FD, Header &H, std::vector<char> &Payload) {
  if (!readExactly(FD, &H, sizeof(H)) || H.Size < 32 || H.Size > (uint64_t(1) << 30))
    return false;
  Payload.resize(H.Size - 32);
  return readExactly(FD, Payload.data(), Payload.size());
}

/// Sends the bad frame `Mode` names in place of the frame whose header is `Real`.
void sendBad(int Out, const std::string &Mode, const Header &Real) {
  const uint64_t Setup = 0, Result = 2;
  if (Mode == "huge") {
    sendHeader(Out, {uint64_t(1) << 62, Result, Real.SeqNo, 0});
  } else if (Mode == "small") {
    sendHeader(Out, {8, Result, Real.SeqNo, 0});
  } else if (Mode == "opcode") {
    sendHeader(Out, {32, 9, Real.SeqNo, 0});
  } else if (Mode == "setup") {
    sendHeader(Out, {32, Setup, 0, 0});
  } else if (Mode == "result-tag") {
    sendHeader(Out, {32, Result, Real.SeqNo, 0x1000});
  } else if (Mode == "cut-header") {
    Header H{32, Result, Real.SeqNo, 0};
    writeAll(Out, &H, 20);
  } else if (Mode == "cut-payload") {
    sendHeader(Out, {32 + 4096, Result, Real.SeqNo, 0});
    std::vector<char> Some(100, 'x');
    writeAll(Out, Some.data(), Some.size());
  } else if (Mode == "sequence") {
    sendHeader(Out, {32, Result, 999999, 0});
  } else if (Mode == "sps") {
    // A wrapper result whose first byte claims an out-of-band error string longer than the
    // payload, then nothing that decodes.
    std::vector<unsigned char> Junk(24, 0xff);
    sendHeader(Out, {32 + Junk.size(), Result, Real.SeqNo, 0});
    writeAll(Out, Junk.data(), Junk.size());
  } else if (Mode == "random") {
    std::mt19937_64 Rng(20261205);
    std::vector<uint64_t> Bytes(5000 / 8);
    for (auto &B : Bytes)
      B = Rng();
    writeAll(Out, Bytes.data(), Bytes.size() * 8);
  } else {
    die("unknown JITSLAB_RELAY_MODE " + Mode);
  }
}

} // namespace

int main(int Argc, char **Argv) {
  const char *Executor = std::getenv("JITSLAB_RELAY_EXECUTOR");
  const char *ModeEnv = std::getenv("JITSLAB_RELAY_MODE");
  int FromController = -1, ToController = -1;
  if (Argc != 2 || std::sscanf(Argv[1], "filedescs=%d,%d", &FromController, &ToController) != 2)
    die("usage: bad_executor_relay filedescs=IN,OUT");
  if (!Executor || !ModeEnv)
    die("set JITSLAB_RELAY_EXECUTOR and JITSLAB_RELAY_MODE");
  std::string Mode = ModeEnv;
  std::signal(SIGPIPE, SIG_IGN);

  int Down[2], Up[2]; // relay -> executor, executor -> relay
  if (pipe(Down) != 0 || pipe(Up) != 0)
    die(std::string("pipe: ") + std::strerror(errno));
  pid_t Child = fork();
  if (Child < 0)
    die(std::string("fork: ") + std::strerror(errno));
  if (Child == 0) {
    close(Down[1]);
    close(Up[0]);
    close(FromController);
    close(ToController);
    std::string Arg = "filedescs=" + std::to_string(Down[0]) + "," + std::to_string(Up[1]);
    execl(Executor, Executor, Arg.c_str(), static_cast<char *>(nullptr));
    _exit(127);
  }
  close(Down[0]);
  close(Up[1]);

  if (Mode == "deaf") {
    Header H;
    std::vector<char> Payload;
    if (!readFrame(Up[0], H, Payload))
      die("no Setup from the executor");
    // Nothing else holds the pipe's read end (the executor closed its copy): the controller's
    // next write fails.
    close(FromController);
    sendHeader(ToController, H);
    writeAll(ToController, Payload.data(), Payload.size());
    // A pipe's write end polls as POLLERR once its reader has closed it.
    pollfd P{ToController, 0, 0};
    while (poll(&P, 1, -1) < 0 || !(P.revents & (POLLERR | POLLHUP))) {
    }
    kill(Child, SIGKILL);
    waitpid(Child, nullptr, 0);
    std::_Exit(0);
  }

  // Controller to executor, verbatim, until the controller hangs up.
  std::thread([&] {
    char Buf[65536];
    for (;;) {
      ssize_t R = read(FromController, Buf, sizeof(Buf));
      if (R <= 0)
        break;
      writeAll(Down[1], Buf, static_cast<size_t>(R));
    }
    kill(Child, SIGKILL);
    waitpid(Child, nullptr, 0);
    std::_Exit(0);
  }).detach();

  // Executor to controller: the Setup, then the bad frame in place of the next one.
  for (int Index = 0;; ++Index) {
    Header H;
    std::vector<char> Payload;
    if (!readFrame(Up[0], H, Payload))
      break;
    if (Index == 1) {
      sendBad(ToController, Mode, H);
      if (Mode.rfind("cut-", 0) == 0)
        break;
      continue;
    }
    sendHeader(ToController, H);
    writeAll(ToController, Payload.data(), Payload.size());
  }
  // The cut modes end the input here; otherwise the executor ended it.
  close(ToController);
  for (;;)
    pause();
}
