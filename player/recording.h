// The recording file of bcast-player (".bcrec"): the service's session description and every
// datagram of its key and media streams as received, still encrypted, with the time it arrived.
//
// Recording keeps the protection (stkm.md protection_after_reception 2: "protection of recorded
// playback"): the file holds SRTP/ISMACryp packets and STKMs only, never a TEK. Playing it back
// sends the recorded STKMs through tekdec again (purpose "record"), so the TEKs come once more from
// spcd or the key file, under the rights in force at playback.
//
// Layout (all integers big-endian):
//   magic        11 bytes  "OBCASTREC1\n"
//   sdp_length   u32       then the session description text (UTF-8)
//   records, until the end of the file:
//     kind       u8        1 = key stream datagram, 2 = media datagram
//     index      u8        key stream (SDP order of a=stkmstream) or media (m= line) index
//     reserved   u16       0
//     time_us    u64       microseconds since the recording started
//     length     u32       then `length` bytes: the UDP payload
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "spc/libspc/result.h"

namespace player {

inline constexpr char kRecordingMagic[] = "OBCASTREC1\n";
inline constexpr std::size_t kRecordingMagicSize = sizeof(kRecordingMagic) - 1;
inline constexpr std::uint32_t kMaxRecordedDatagram = 65535;
inline constexpr std::uint32_t kMaxRecordedSdp = 1 << 20;

enum class RecordKind : std::uint8_t { kKey = 1, kMedia = 2 };

struct RecordedDatagram {
  RecordKind kind = RecordKind::kMedia;
  std::uint8_t index = 0;
  std::uint64_t time_us = 0;
  std::vector<std::uint8_t> data;
};

// True when the file starts with the recording magic (so bcast-player plays it as a recording).
bool IsRecordingFile(const std::string& path);

class RecordingWriter {
 public:
  // Creates `path` with mode 0600 (it is protected content, but still the user's alone).
  static spc::Result<std::unique_ptr<RecordingWriter>> Create(const std::string& path,
                                                              const std::string& sdp_text);
  ~RecordingWriter();
  RecordingWriter(const RecordingWriter&) = delete;
  RecordingWriter& operator=(const RecordingWriter&) = delete;

  // Thread-safe (the streaming threads of every branch write). False after a write error.
  bool Write(RecordKind kind, std::uint8_t index, std::uint64_t time_us,
             std::span<const std::uint8_t> data);
  bool Close(std::string* error);
  std::uint64_t bytes() const;
  std::uint64_t datagrams() const;
  const std::string& path() const { return path_; }

 private:
  RecordingWriter(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}
  std::string path_;
  mutable std::mutex mutex_;
  std::FILE* file_ = nullptr;
  std::uint64_t bytes_ = 0;
  std::uint64_t datagrams_ = 0;
  bool failed_ = false;
};

class RecordingReader {
 public:
  static spc::Result<std::unique_ptr<RecordingReader>> Open(const std::string& path);
  ~RecordingReader();
  RecordingReader(const RecordingReader&) = delete;
  RecordingReader& operator=(const RecordingReader&) = delete;

  const std::string& sdp_text() const { return sdp_; }
  // The next datagram; nullopt at the clean end of the file. A truncated or malformed record is an
  // error naming the field and its byte offset.
  spc::Result<std::optional<RecordedDatagram>> Next();

 private:
  explicit RecordingReader(std::FILE* file) : file_(file) {}
  std::FILE* file_ = nullptr;
  std::string sdp_;
  std::uint64_t offset_ = 0;
};

}  // namespace player
