//===- CheckedTransport.h - an ORC frame transport that trusts no header ----------===//
//
// Either side of LLVM's SimpleRemoteEPC wire format over two descriptors, checked: the
// executor's (jitslab-executor) and the controller's (jitslab-run, jitslab-repl, the C++ API's
// connections). Each frame is a 32-byte header of four little-endian u64s and a payload:
//
//   +----------+----------+----------+----------+-------------------------------+
//   | size     | opcode   | seq no   | tag addr | payload (size - 32 bytes)     |
//   +----------+----------+----------+----------+-------------------------------+
//
// LLVM's FDSimpleRemoteEPCTransport allocates `size - 32` bytes for the payload before it
// has read any of them and passes any opcode on, so one bad header aborts the process that
// reads it ("LLVM ERROR: out of memory"), executor or controller. This transport speaks the same format, byte for byte, but
// refuses before allocating or dispatching anything:
// - a size below the header's 32 bytes or above the frame limit (`max-frame=`);
// - an opcode that is not Setup, Hangup, Result or CallWrapper;
// - a header that breaks the protocol's own rules: a Hangup with a sequence number or a tag
//   address, a Result with a tag address, a CallWrapper to address 0; on the controller's
//   side, a first frame that is not a Setup, and a second Setup;
// - a frame cut short by the end of input (in its header or its payload).
// The refusal is an error handed to the client's handleDisconnect, naming the frame (its
// index and sequence number) and what was wrong. An executor then shuts its services down
// (jitslab's regions end, LLVM's shared memory is unlinked) and waitForDisconnect returns it;
// a controller fails every call in flight with it, and the tool reports it and exits.
//
// It is its own implementation rather than a wrapper: the frame size is read and the buffer
// allocated inside LLVM's listener thread, so the only way to check it in front of LLVM's
// transport would be a relay thread and a second pair of descriptors copying every byte.
//
// Concurrency: one listener thread, started once the Setup message is sent, reads and
// dispatches frames in order (on the executor's side it starts once the Setup message is sent,
// on the controller's side at start()); sendMessage may be
// called from any thread (the server's call threads) and serializes writes under a mutex;
// disconnect may be called from any thread, any number of times, and ends the listener at
// once, whether or not the other side still holds its end open.
//
//===----------------------------------------------------------------------===//

#ifndef JITSLAB_TRANSPORT_CHECKEDTRANSPORT_H
#define JITSLAB_TRANSPORT_CHECKEDTRANSPORT_H

#include "llvm/ExecutionEngine/Orc/Shared/SimpleRemoteEPCUtils.h"
#include "llvm/Support/Error.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

namespace jitslab {

class CheckedFDTransport final : public llvm::orc::SimpleRemoteEPCTransport {
public:
  /// Which end of the connection this transport serves: the rules for the first frame and
  /// when reading starts differ.
  enum class Side { Executor, Controller };

  /// The largest frame accepted unless `max-frame=` says otherwise: 512 MiB, above the
  /// largest segment content a stock-protocol finalize of a big program carries, and small
  /// enough to allocate on any machine that runs a JIT.
  static constexpr uint64_t DefaultMaxFrame = uint64_t(512) << 20;
  /// The text of the error a send gets once the connection is closed (tools recognize it).
  static constexpr const char *ClosedMessage = "the connection to the other side is closed";
  /// The header's size, the smallest frame there is.
  static constexpr uint64_t HeaderSize = 4 * sizeof(uint64_t);

  /// A transport for `S`'s end, reading frames from `InFD` and writing to `OutFD` (the same
  /// descriptor for a socket), refusing frames larger than `MaxFrame` bytes (header included).
  static llvm::Expected<std::unique_ptr<CheckedFDTransport>>
  Create(llvm::orc::SimpleRemoteEPCTransportClient &C, int InFD, int OutFD, uint64_t MaxFrame,
         Side S = Side::Executor);

  ~CheckedFDTransport() override;

  llvm::Error start() override;
  llvm::Error sendMessage(llvm::orc::SimpleRemoteEPCOpcode OpC, uint64_t SeqNo,
                          llvm::orc::ExecutorAddr TagAddr, llvm::ArrayRef<char> ArgBytes) override;
  void disconnect() override;

private:
  CheckedFDTransport(llvm::orc::SimpleRemoteEPCTransportClient &C, int InFD, int OutFD, int WakeFD,
                     uint64_t MaxFrame, Side S)
      : C(C), InFD(InFD), OutFD(OutFD), WakeFD(WakeFD), MaxFrame(MaxFrame), S(S) {}

  /// Reads exactly `Size` bytes; `Got` is how many arrived before the end of input or an error.
  llvm::Error readExactly(char *Dst, size_t Size, size_t &Got);
  llvm::Error writeAll(const char *Src, size_t Size);
  /// Reads and dispatches one frame; false at a clean end of input or a Hangup.
  llvm::Expected<bool> serveOneFrame(uint64_t Index);
  void listenLoop();

  llvm::orc::SimpleRemoteEPCTransportClient &C;
  const int InFD, OutFD;
  /// An eventfd that disconnect() signals: the listener waits on it beside InFD.
  const int WakeFD;
  const uint64_t MaxFrame;
  const Side S;
  std::mutex WriteMutex;
  std::thread Listener; // started by start() or the Setup's sendMessage, under WriteMutex
  std::atomic<bool> Disconnected{false};
};

} // namespace jitslab

#endif
