#include "delivery/zip_writer.h"

#include <zlib.h>

#include <limits>

namespace eric::delivery {

namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndOfCentralDirSig = 0x06054b50;
constexpr uint16_t kUtf8Flag = 0x0800;
constexpr uint16_t kDosDate1980 = (0 << 9) | (1 << 5) | 1;  // 1980-01-01, as torch writes
constexpr size_t kAlignment = 64;
constexpr uint16_t kPaddingExtraId = 0x4246;  // "FB", PyTorch's padding record

void put16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v & 0xff));
  s.push_back(static_cast<char>(v >> 8));
}
void put32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

Status ZipWriter::add(std::string_view name, std::string_view data) {
  if (finished_) return Internal("ZipWriter::add after finish");
  if (name.empty() || name.size() > 0xffff) return InvalidArgument("zip entry name of {} bytes", name.size());
  if (data.size() > std::numeric_limits<uint32_t>::max() ||
      out_.size() + data.size() + 1024 > std::numeric_limits<uint32_t>::max()) {
    return ResourceExhausted("zip archive would exceed 4 GiB (ZIP64 is not written)");
  }
  Entry e;
  e.name = std::string(name);
  e.size = static_cast<uint32_t>(data.size());
  e.crc = static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
  e.offset = static_cast<uint32_t>(out_.size());
  // Pad the extra field so the data starts 64-byte aligned (4 bytes of
  // extra-record header + padding).
  size_t header_end = out_.size() + 30 + name.size();
  size_t pad = (kAlignment - (header_end + 4) % kAlignment) % kAlignment;
  e.extra = static_cast<uint16_t>(4 + pad);

  put32(out_, kLocalHeaderSig);
  put16(out_, 20);  // version needed: 2.0
  put16(out_, kUtf8Flag);
  put16(out_, 0);  // STORED
  put16(out_, 0);  // time
  put16(out_, kDosDate1980);
  put32(out_, e.crc);
  put32(out_, e.size);  // compressed size
  put32(out_, e.size);  // uncompressed size
  put16(out_, static_cast<uint16_t>(name.size()));
  put16(out_, e.extra);
  out_.append(name);
  put16(out_, kPaddingExtraId);
  put16(out_, static_cast<uint16_t>(pad));
  out_.append(pad, 'Z');
  out_.append(data);
  entries_.push_back(std::move(e));
  return Status::Ok();
}

Result<std::string> ZipWriter::finish() {
  if (finished_) return Internal("ZipWriter::finish called twice");
  finished_ = true;
  const uint32_t cd_offset = static_cast<uint32_t>(out_.size());
  for (const Entry& e : entries_) {
    put32(out_, kCentralHeaderSig);
    put16(out_, 20);  // version made by
    put16(out_, 20);  // version needed
    put16(out_, kUtf8Flag);
    put16(out_, 0);
    put16(out_, 0);
    put16(out_, kDosDate1980);
    put32(out_, e.crc);
    put32(out_, e.size);
    put32(out_, e.size);
    put16(out_, static_cast<uint16_t>(e.name.size()));
    put16(out_, 0);  // no extra field in the central directory
    put16(out_, 0);  // comment
    put16(out_, 0);  // disk
    put16(out_, 0);  // internal attributes
    put32(out_, 0);  // external attributes
    put32(out_, e.offset);
    out_.append(e.name);
  }
  const uint32_t cd_size = static_cast<uint32_t>(out_.size()) - cd_offset;
  if (entries_.size() > 0xffff) return ResourceExhausted("too many zip entries");
  put32(out_, kEndOfCentralDirSig);
  put16(out_, 0);
  put16(out_, 0);
  put16(out_, static_cast<uint16_t>(entries_.size()));
  put16(out_, static_cast<uint16_t>(entries_.size()));
  put32(out_, cd_size);
  put32(out_, cd_offset);
  put16(out_, 0);
  return std::move(out_);
}

}  // namespace eric::delivery
