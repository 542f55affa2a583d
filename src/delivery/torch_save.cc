#include "delivery/torch_save.h"

#include <cstring>

#include "delivery/zip_writer.h"

namespace eric::delivery {

namespace {

// The legacy storage class torch.save names for each dtype.
Result<const char*> storage_class(DType dt) {
  switch (dt) {
    case DType::kF32: return "FloatStorage";
    case DType::kBF16: return "BFloat16Storage";
    case DType::kF16: return "HalfStorage";
    case DType::kI64: return "LongStorage";
    case DType::kI32: return "IntStorage";
    case DType::kU8: return "ByteStorage";
    case DType::kBool: return "BoolStorage";
  }
  return Unimplemented("torch_save: unsupported dtype");
}

// The few pickle opcodes the weights-only unpickler accepts, protocol 2.
class PickleWriter {
 public:
  PickleWriter() { out_ += "\x80\x02"; }
  void global(const char* module, const char* name) {
    out_ += 'c';
    out_ += module;
    out_ += '\n';
    out_ += name;
    out_ += '\n';
  }
  void mark() { out_ += '('; }
  void tuple() { out_ += 't'; }
  void empty_tuple() { out_ += ')'; }
  void reduce() { out_ += 'R'; }
  void persistent_id() { out_ += 'Q'; }
  void new_false() { out_ += '\x89'; }
  void stop() { out_ += '.'; }
  void unicode(const std::string& s) {
    out_ += 'X';
    put_le(static_cast<uint64_t>(s.size()), 4);
    out_ += s;
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      out_ += 'K';
      put_le(static_cast<uint64_t>(v), 1);
    } else if (v >= 0 && v < 65536) {
      out_ += 'M';
      put_le(static_cast<uint64_t>(v), 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      out_ += 'J';
      put_le(static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int32_t>(v))), 4);
    } else {
      out_ += '\x8a';  // LONG1: 8 bytes two's complement
      out_ += '\x08';
      put_le(static_cast<uint64_t>(v), 8);
    }
  }
  void int_tuple(const std::vector<int64_t>& values) {
    if (values.empty()) {
      empty_tuple();
      return;
    }
    mark();
    for (int64_t v : values) integer(v);
    tuple();
  }
  std::string take() { return std::move(out_); }

 private:
  void put_le(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_ += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  std::string out_;
};

}  // namespace

Result<std::string> torch_save(const Tensor& tensor) {
  if (!tensor.defined()) return InvalidArgument("torch_save: undefined tensor");
  if (!tensor.device().is_cpu()) return InvalidArgument("torch_save: tensor is not on the CPU");
  ERIC_ASSIGN_OR_RETURN(const char* storage, storage_class(tensor.dtype()));
  ERIC_ASSIGN_OR_RETURN(Tensor t, tensor.contiguous());

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks)
  PickleWriter p;
  p.global("torch._utils", "_rebuild_tensor_v2");
  p.mark();
  p.mark();
  p.unicode("storage");
  p.global("torch", storage);
  p.unicode("0");
  p.unicode("cpu");
  p.integer(t.numel());
  p.tuple();
  p.persistent_id();
  p.integer(0);
  p.int_tuple(t.shape().dims());
  p.int_tuple(t.strides());
  p.new_false();
  p.global("collections", "OrderedDict");
  p.empty_tuple();
  p.reduce();
  p.tuple();
  p.reduce();
  p.stop();

  ZipWriter zip;
  ERIC_RETURN_IF_ERROR(zip.add("archive/data.pkl", p.take()));
  ERIC_RETURN_IF_ERROR(zip.add("archive/byteorder", "little"));
  ERIC_RETURN_IF_ERROR(
      zip.add("archive/data/0", std::string_view(static_cast<const char*>(t.raw_data()), t.nbytes())));
  ERIC_RETURN_IF_ERROR(zip.add("archive/version", "3\n"));
  return zip.finish();
}

}  // namespace eric::delivery
