//===- CheckedTransport.cpp - an ORC frame transport that trusts no header --------===//
//
// CheckedTransport.h describes the wire format and what is refused.
//
//===----------------------------------------------------------------------===//

#include "CheckedTransport.h"

#include "llvm/Config/llvm-config.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FormatVariadic.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#include <sanitizer/tsan_interface.h>
#define JITSLAB_TRANSPORT_TSAN 1
#endif
#endif

using namespace llvm;
using namespace llvm::orc;

namespace jitslab {

namespace {

Error fail(const Twine &Msg) { return make_error<StringError>(Msg, inconvertibleErrorCode()); }

/// What orders an executor's calls for ThreadSanitizer (-DJITSLAB_SANITIZE=thread).
///
/// An executor serves each call on a thread of its own, and what one call leaves behind (an
/// object the ORC runtime allocated, the native service's page table) the next call uses. The
/// order between them runs through the controller, which sends the next call once it has the
/// last one's answer: another process, invisible to TSan, which saw every such pair as a race
/// (including inside JIT'd code, which nothing can instrument). Each frame the executor sends
/// releases and each one it reads acquires one address, which says exactly that. It also orders
/// two calls the controller had in flight together if the second was read after the first was
/// answered, so a race between those is only found when they overlap in time.
#ifdef JITSLAB_TRANSPORT_TSAN
char ControllerOrder;
void sendingToController() { __tsan_release(&ControllerOrder); }
void readFromController() { __tsan_acquire(&ControllerOrder); }
#else
void sendingToController() {}
void readFromController() {}
#endif

/// 0x-prefixed hex, as sizes and addresses are written in messages.
std::string hex(uint64_t V) { return formatv("{0:x}", V).str(); }

const char *opcodeName(SimpleRemoteEPCOpcode OpC) {
  switch (OpC) {
  case SimpleRemoteEPCOpcode::Setup:
    return "Setup";
  case SimpleRemoteEPCOpcode::Hangup:
    return "Hangup";
  case SimpleRemoteEPCOpcode::Result:
    return "Result";
  case SimpleRemoteEPCOpcode::CallWrapper:
    return "CallWrapper";
  }
  return "?";
}

/// The header's fields, decoded.
struct Header {
  uint64_t Size, OpC, SeqNo, TagAddr;
};

Header decode(const char *B) {
  auto Field = [B](unsigned I) { return support::endian::read64le(B + I * sizeof(uint64_t)); };
  return {Field(0), Field(1), Field(2), Field(3)};
}

/// Why a header is refused, or an empty string: the size against the limit, the opcode, and
/// the rules LLVM's controller follows when it builds a frame (SimpleRemoteEPC.cpp), which
/// the server itself only asserts in debug builds.
std::string checkHeader(const Header &H, uint64_t Index, uint64_t MaxFrame,
                        CheckedFDTransport::Side S) {
  // An executor speaks first, with its Setup, and only once (checked first: an executor asking
  // for a secret sends a challenge, which is no ORC frame at all).
  bool IsSetup = H.OpC == static_cast<uint64_t>(SimpleRemoteEPCOpcode::Setup);
  if (S == CheckedFDTransport::Side::Controller && Index == 0 && !IsSetup)
    return "the executor's first message is not ORC's Setup but opcode " + std::to_string(H.OpC);
  if (S == CheckedFDTransport::Side::Controller && Index > 0 && IsSetup)
    return "a second Setup message";
  if (H.Size < CheckedFDTransport::HeaderSize)
    return "malformed header: frame size " + std::to_string(H.Size) +
           " is smaller than the 32-byte header";
  if (H.Size > MaxFrame)
    return "frame of " + hex(H.Size) + " bytes is larger than the limit, " + hex(MaxFrame) +
           " bytes" +
           (S == CheckedFDTransport::Side::Executor
                ? " (raise it with max-frame=BYTES if a controller needs more)"
                : "");
  if (H.OpC > static_cast<uint64_t>(SimpleRemoteEPCOpcode::LastOpC))
    return "unknown opcode " + std::to_string(H.OpC) +
           " (Setup 0, Hangup 1, Result 2 and CallWrapper 3 are the opcodes there are)";
  switch (static_cast<SimpleRemoteEPCOpcode>(H.OpC)) {
  case SimpleRemoteEPCOpcode::Hangup:
    if (H.SeqNo != 0 || H.TagAddr != 0)
      return "malformed header: a Hangup with sequence number " + std::to_string(H.SeqNo) +
             " and tag address " + hex(H.TagAddr) + " (both must be 0)";
    break;
  case SimpleRemoteEPCOpcode::Result:
    if (H.TagAddr != 0)
      return "malformed header: a Result with tag address " + hex(H.TagAddr) + " (must be 0)";
    break;
  case SimpleRemoteEPCOpcode::CallWrapper:
    if (H.TagAddr == 0)
      return "malformed header: a CallWrapper to address 0";
    break;
  case SimpleRemoteEPCOpcode::Setup:
    break; // an executor's server refuses it by itself ("Unexpected Setup opcode")
  }
  return "";
}

/// The payload buffer handleMessage takes, which LLVM 22 made its own type.
#if LLVM_VERSION_MAJOR >= 22
using Payload = shared::WrapperFunctionBuffer;
Payload allocatePayload(size_t N) { return Payload::allocate(N); }
#else
using Payload = SimpleRemoteEPCArgBytesVector;
Payload allocatePayload(size_t N) {
  Payload P;
  P.resize(N);
  return P;
}
#endif

} // namespace

Expected<std::unique_ptr<CheckedFDTransport>>
CheckedFDTransport::Create(SimpleRemoteEPCTransportClient &C, int InFD, int OutFD,
                           uint64_t MaxFrame, Side S) {
  if (InFD < 0 || OutFD < 0)
    return fail("invalid descriptors " + Twine(InFD) + "," + Twine(OutFD));
  if (MaxFrame < HeaderSize)
    return fail("max-frame=" + Twine(MaxFrame) + " is smaller than a frame's 32-byte header");
  int Wake = ::eventfd(0, EFD_CLOEXEC);
  if (Wake < 0)
    return fail(Twine("eventfd: ") + std::strerror(errno));
  return std::unique_ptr<CheckedFDTransport>(
      new CheckedFDTransport(C, InFD, OutFD, Wake, MaxFrame, S));
}

CheckedFDTransport::~CheckedFDTransport() {
  if (Listener.joinable())
    Listener.join();
  ::close(WakeFD);
}

Error CheckedFDTransport::start() {
  // An executor's reading starts once its Setup message is out (sendMessage): a controller
  // sends nothing before it has the Setup, and a frame refused earlier would make the server's
  // own sending of the Setup fail, so that its error, not the refusal, would be the one
  // reported. A controller reads from the start: the executor's Setup comes first.
  if (S == Side::Controller) {
    std::lock_guard<std::mutex> Lock(WriteMutex);
    if (Disconnected)
      return fail(ClosedMessage);
    if (!Listener.joinable())
      Listener = std::thread([this] { listenLoop(); });
  }
  return Error::success();
}

Error CheckedFDTransport::sendMessage(SimpleRemoteEPCOpcode OpC, uint64_t SeqNo,
                                      ExecutorAddr TagAddr, ArrayRef<char> ArgBytes) {
  char H[HeaderSize];
  support::endian::write64le(H, HeaderSize + ArgBytes.size());
  support::endian::write64le(H + 8, static_cast<uint64_t>(OpC));
  support::endian::write64le(H + 16, SeqNo);
  support::endian::write64le(H + 24, TagAddr.getValue());
  if (S == Side::Executor)
    sendingToController();
  std::lock_guard<std::mutex> Lock(WriteMutex);
  if (Disconnected)
    return fail(ClosedMessage);
  if (Error E = writeAll(H, HeaderSize))
    return E;
  if (Error E = writeAll(ArgBytes.data(), ArgBytes.size()))
    return E;
  if (S == Side::Executor && OpC == SimpleRemoteEPCOpcode::Setup && !Listener.joinable())
    Listener = std::thread([this] { listenLoop(); });
  return Error::success();
}

void CheckedFDTransport::disconnect() {
  if (Disconnected.exchange(true))
    return;
  // The listener waits in poll on the reading descriptor and this eventfd: it stops at once,
  // whatever the other side does. (shutdown alone woke a read on a socket only; on a pipe the
  // read ended when the other side, seeing our write end closed, exited, so an executor that
  // stopped reading but kept its end open held a controller's disconnect for ever.)
  uint64_t One = 1;
  while (::write(WakeFD, &One, sizeof(One)) < 0 && errno == EINTR) {
  }
  ::shutdown(InFD, InFD == OutFD ? SHUT_RDWR : SHUT_RD);
  // Closing under the write lock: a descriptor closed during a write could be reused by the
  // time the write resumes, and the frame's rest would go to another file.
  std::lock_guard<std::mutex> Lock(WriteMutex);
  if (OutFD != InFD)
    ::close(OutFD);
  // The reading descriptor belongs to the listener while it runs: it closes it when its loop
  // ends. Closed here, a read the listener was about to start would read from whatever file
  // took the number next (ThreadSanitizer reported the close racing with that read).
  if (!Listener.joinable())
    ::close(InFD);
}

Error CheckedFDTransport::readExactly(char *Dst, size_t Size, size_t &Got) {
  Got = 0;
  while (Got < Size) {
    pollfd P[2] = {{InFD, POLLIN, 0}, {WakeFD, POLLIN, 0}};
    if (::poll(P, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      return fail(Twine("poll: ") + std::strerror(errno));
    }
    if (P[1].revents)
      return fail(ClosedMessage); // disconnect(): the end this side asked for
    ssize_t N = ::read(InFD, Dst + Got, Size - Got);
    if (N > 0) {
      Got += static_cast<size_t>(N);
      continue;
    }
    if (N == 0)
      return Error::success();
    if (errno == EINTR || errno == EAGAIN)
      continue;
    return fail(Twine("read: ") + std::strerror(errno));
  }
  return Error::success();
}

Error CheckedFDTransport::writeAll(const char *Src, size_t Size) {
  while (Size > 0) {
    ssize_t N = ::write(OutFD, Src, Size);
    if (N < 0) {
      if (errno == EINTR || errno == EAGAIN)
        continue;
      return fail(Twine("write: ") + std::strerror(errno));
    }
    Src += N;
    Size -= static_cast<size_t>(N);
  }
  return Error::success();
}

Expected<bool> CheckedFDTransport::serveOneFrame(uint64_t Index) {
  std::string Frame = "frame " + std::to_string(Index);
  char HB[HeaderSize];
  size_t Got;
  if (Error E = readExactly(HB, HeaderSize, Got))
    return fail(Frame + ": " + toString(std::move(E)));
  if (Got == 0)
    return false; // the other side closed the connection between frames
  if (Got < HeaderSize)
    return fail(Frame + ": truncated frame: the input ended after " + Twine(Got) + " of the " +
                "header's 32 bytes");
  Header H = decode(HB);
  std::string Why = checkHeader(H, Index, MaxFrame, S);
  if (!Why.empty())
    return fail(Frame + " (sequence number " + std::to_string(H.SeqNo) + "): " + Why);
  auto OpC = static_cast<SimpleRemoteEPCOpcode>(H.OpC);
  Frame +=
      std::string(" (") + opcodeName(OpC) + ", sequence number " + std::to_string(H.SeqNo) + ")";

  Payload Args = allocatePayload(H.Size - HeaderSize);
  if (Error E = readExactly(Args.data(), Args.size(), Got))
    return fail(Frame + ": " + toString(std::move(E)));
  if (Got < Args.size())
    return fail(Frame + ": truncated frame: the input ended after " + Twine(Got) + " of its " +
                Twine(Args.size()) + " payload bytes");

  if (S == Side::Executor)
    readFromController();
  auto Action = C.handleMessage(OpC, H.SeqNo, ExecutorAddr(H.TagAddr), std::move(Args));
  if (!Action)
    return fail(Frame + ": " + toString(Action.takeError()));
  return *Action == SimpleRemoteEPCTransportClient::ContinueSession;
}

void CheckedFDTransport::listenLoop() {
  Error Err = Error::success();
  for (uint64_t Index = 0;; ++Index) {
    Expected<bool> More = serveOneFrame(Index);
    if (!More) {
      // A read that fails because disconnect() closed the descriptor is the end we asked for.
      if (Disconnected)
        consumeError(More.takeError());
      else
        Err = More.takeError();
      break;
    }
    if (!*More)
      break;
  }
  disconnect();
  {
    std::lock_guard<std::mutex> Lock(WriteMutex); // for a socket, InFD is OutFD too
    ::close(InFD);
  }
  C.handleDisconnect(std::move(Err));
}

} // namespace jitslab
