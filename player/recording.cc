#include "player/recording.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace player {
namespace {

void PutBe(std::vector<std::uint8_t>& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint64_t GetBe(const std::uint8_t* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

spc::ParseError Error(std::string message, std::string field, std::uint64_t offset) {
  return spc::ParseError{std::move(message), std::move(field), static_cast<std::size_t>(offset)};
}

}  // namespace

bool IsRecordingFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  std::array<char, kRecordingMagicSize> magic{};
  const bool is = std::fread(magic.data(), 1, magic.size(), f) == magic.size() &&
                  std::memcmp(magic.data(), kRecordingMagic, magic.size()) == 0;
  std::fclose(f);
  return is;
}

spc::Result<std::unique_ptr<RecordingWriter>> RecordingWriter::Create(const std::string& path,
                                                                      const std::string& sdp) {
  if (sdp.size() > kMaxRecordedSdp) return Error("session description too large", "sdp", 0);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error(std::string("cannot create: ") + std::strerror(errno), "file", 0);
  // An existing file keeps its mode on O_TRUNC: make it the user's alone as a new one would be.
  ::fchmod(fd, 0600);
  std::FILE* f = ::fdopen(fd, "wb");
  if (f == nullptr) {
    ::close(fd);
    return Error(std::string("cannot open: ") + std::strerror(errno), "file", 0);
  }
  std::unique_ptr<RecordingWriter> w(new RecordingWriter(path, f));
  std::vector<std::uint8_t> header(kRecordingMagic, kRecordingMagic + kRecordingMagicSize);
  PutBe(header, sdp.size(), 4);
  header.insert(header.end(), sdp.begin(), sdp.end());
  if (std::fwrite(header.data(), 1, header.size(), f) != header.size()) {
    return Error(std::string("write failed: ") + std::strerror(errno), "file", 0);
  }
  w->bytes_ = header.size();
  return w;
}

RecordingWriter::~RecordingWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

bool RecordingWriter::Write(RecordKind kind, std::uint8_t index, std::uint64_t time_us,
                            std::span<const std::uint8_t> data) {
  if (data.size() > kMaxRecordedDatagram) return false;
  std::vector<std::uint8_t> head;
  head.reserve(16);
  head.push_back(static_cast<std::uint8_t>(kind));
  head.push_back(index);
  PutBe(head, 0, 2);
  PutBe(head, time_us, 8);
  PutBe(head, data.size(), 4);
  std::lock_guard lock(mutex_);
  if (file_ == nullptr || failed_) return false;
  if (std::fwrite(head.data(), 1, head.size(), file_) != head.size() ||
      std::fwrite(data.data(), 1, data.size(), file_) != data.size()) {
    failed_ = true;
    return false;
  }
  bytes_ += head.size() + data.size();
  ++datagrams_;
  return true;
}

bool RecordingWriter::Close(std::string* error) {
  std::lock_guard lock(mutex_);
  if (file_ == nullptr) return !failed_;
  const bool flushed = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (failed_ || !flushed || !closed) {
    if (error) *error = "writing " + path_ + " failed (disk full?)";
    return false;
  }
  return true;
}

std::uint64_t RecordingWriter::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

std::uint64_t RecordingWriter::datagrams() const {
  std::lock_guard lock(mutex_);
  return datagrams_;
}

spc::Result<std::unique_ptr<RecordingReader>> RecordingReader::Open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return Error(std::string("cannot open: ") + std::strerror(errno), "file", 0);
  std::unique_ptr<RecordingReader> r(new RecordingReader(f));
  std::array<std::uint8_t, kRecordingMagicSize + 4> head{};
  if (std::fread(head.data(), 1, head.size(), f) != head.size() ||
      std::memcmp(head.data(), kRecordingMagic, kRecordingMagicSize) != 0) {
    return Error("not a bcast-player recording", "magic", 0);
  }
  const std::uint64_t length = GetBe(head.data() + kRecordingMagicSize, 4);
  if (length > kMaxRecordedSdp) {
    return Error("session description length " + std::to_string(length) + " too large",
                 "sdp_length", kRecordingMagicSize);
  }
  r->sdp_.resize(length);
  if (std::fread(r->sdp_.data(), 1, length, f) != length) {
    return Error("file ends inside the session description", "sdp", kRecordingMagicSize + 4);
  }
  r->offset_ = head.size() + length;
  return r;
}

RecordingReader::~RecordingReader() {
  if (file_ != nullptr) std::fclose(file_);
}

spc::Result<std::optional<RecordedDatagram>> RecordingReader::Next() {
  std::array<std::uint8_t, 16> head{};
  const std::size_t got = std::fread(head.data(), 1, head.size(), file_);
  if (got == 0 && std::feof(file_)) return std::optional<RecordedDatagram>();
  if (got != head.size()) return Error("file ends inside a record header", "record", offset_);
  RecordedDatagram d;
  if (head[0] != 1 && head[0] != 2) {
    return Error("unknown record kind " + std::to_string(head[0]), "kind", offset_);
  }
  d.kind = static_cast<RecordKind>(head[0]);
  d.index = head[1];
  d.time_us = GetBe(head.data() + 4, 8);
  const std::uint64_t length = GetBe(head.data() + 12, 4);
  if (length > kMaxRecordedDatagram) {
    return Error("datagram length " + std::to_string(length) + " too large", "length",
                 offset_ + 12);
  }
  d.data.resize(length);
  if (std::fread(d.data.data(), 1, length, file_) != length) {
    return Error("file ends inside a datagram", "data", offset_ + 16);
  }
  offset_ += 16 + length;
  return std::optional<RecordedDatagram>(std::move(d));
}

}  // namespace player
