#include "backend/cuda/context.h"

#include <cstring>

#include "backend/cuda/cuda_error.h"
#include "common/thread_pool.h"

namespace eric::cuda {

namespace {
constexpr size_t kLtWorkspaceBytes = size_t{32} << 20;  // cuBLASLt's Hopper kernels want up to 32 MiB

Status lt_status(cublasStatus_t st, std::string_view what) {
  if (st == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  return Internal("cuBLASLt {}: status {}", what, static_cast<int>(st));
}
}  // namespace

PinnedStaging::~PinnedStaging() {
  for (Slot& s : slots_) {
    if (s.done) {
      cudaEventSynchronize(s.done);
      cudaEventDestroy(s.done);
    }
    if (s.ptr) cudaFreeHost(s.ptr);
  }
}

Result<void*> PinnedStaging::acquire(size_t bytes) {
  current_ ^= 1;
  Slot& s = slots_[current_];
  if (s.done) ERIC_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(s.done), "wait for pinned staging slot");
  if (s.bytes < bytes) {
    if (s.ptr) cudaFreeHost(s.ptr);
    s.ptr = nullptr;
    s.bytes = 0;
    size_t grow = std::max(bytes, size_t{1} << 20);
    ERIC_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&s.ptr, grow, cudaHostAllocDefault), "pinned host alloc");
    s.bytes = grow;
  }
  return s.ptr;
}

Status PinnedStaging::release_after(cudaStream_t stream) {
  Slot& s = slots_[current_];
  if (!s.done) ERIC_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming), "event create");
  ERIC_CUDA_RETURN_IF_ERROR(cudaEventRecord(s.done, stream), "event record");
  return Status::Ok();
}

Status PinnedStaging::wait(int slot) {
  const Slot& s = slots_[static_cast<size_t>(slot & 1)];
  if (s.done) ERIC_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(s.done), "wait for the copy into pinned staging");
  return Status::Ok();
}

Result<std::unique_ptr<Context>> Context::create(int device) {
  ERIC_ASSIGN_OR_RETURN(DeviceAllocator * alloc, DeviceAllocator::for_device(device));
  (void)alloc;
  std::unique_ptr<Context> c(new Context());
  c->device_ = device;
  ERIC_CUDA_RETURN_IF_ERROR(cudaSetDevice(device), "set device");
  ERIC_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&c->stream_, cudaStreamNonBlocking), "stream create");
  ERIC_RETURN_IF_ERROR(lt_status(cublasLtCreate(&c->lt_), "create"));
  ERIC_ASSIGN_OR_RETURN(c->workspace_, c->empty(DType::kU8, Shape{static_cast<int64_t>(kLtWorkspaceBytes)}));
  return c;
}

Context::~Context() {
  if (stream_) cudaStreamSynchronize(stream_);
  workspace_ = DeviceTensor();  // back to the cache while the stream still exists
  if (lt_) cublasLtDestroy(lt_);
  if (stream_) cudaStreamDestroy(stream_);
}

Status Context::synchronize() {
  ERIC_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "stream synchronize");
  return Status::Ok();
}

Result<DeviceTensor> upload(const Tensor& host_in, DType dtype, Context& ctx) {
  if (!host_in.device().is_cpu()) return InvalidArgument("upload: source tensor is not on the CPU");
  ERIC_ASSIGN_OR_RETURN(Tensor host, host_in.contiguous());
  const DType src = host.dtype();
  const bool float_ok = (dtype == DType::kF32 || dtype == DType::kBF16) &&
                        (src == DType::kF32 || src == DType::kBF16 || src == DType::kF16);
  const bool int_ok = dtype == DType::kI32 && (src == DType::kI32 || src == DType::kI64);
  if (!float_ok && !int_ok) {
    return InvalidArgument("upload: cannot convert {} to {} for the device", dtype_name(src), dtype_name(dtype));
  }
  ERIC_ASSIGN_OR_RETURN(DeviceTensor dev, ctx.empty(dtype, host.shape()));
  const int64_t n = host.numel();
  if (n == 0) return dev;
  if (src == DType::kF32 || src == DType::kBF16) {
    // As rows of the last dimension through upload_rows: converted in
    // parallel, chunk by chunk, overlapping the copies.
    const int64_t width = host.rank() >= 2 ? host.dim(host.rank() - 1) : 1;  // vectors: rows of one
    ERIC_ASSIGN_OR_RETURN(Tensor rows, host.reshape({n / width, width}));
    ERIC_ASSIGN_OR_RETURN(DeviceTensor dev_rows, dev.reshape({n / width, width}));
    ERIC_ASSIGN_OR_RETURN(RowBlocks blocks, RowBlocks::create({rows}));
    ERIC_RETURN_IF_ERROR(upload_rows(blocks, dev_rows, ctx));
    return dev;
  }
  ERIC_ASSIGN_OR_RETURN(void* stage, ctx.staging().acquire(dev.nbytes()));
  const void* in = host.raw_data();
  if (src == dtype) {
    std::memcpy(stage, in, dev.nbytes());
  } else if (dtype == DType::kI32) {
    const int64_t* p = static_cast<const int64_t*>(in);
    int32_t* o = static_cast<int32_t*>(stage);
    for (int64_t i = 0; i < n; ++i) {
      if (p[i] < INT32_MIN || p[i] > INT32_MAX) return OutOfRange("upload: value {} at {} does not fit int32", p[i], i);
      o[i] = static_cast<int32_t>(p[i]);
    }
  } else {  // float16 (float32 and bf16 went through upload_rows)
    const uint16_t* p = static_cast<const uint16_t*>(in);
    if (dtype == DType::kF32) {
      float* o = static_cast<float*>(stage);
      for (int64_t i = 0; i < n; ++i) o[i] = f16_to_f32(p[i]);
    } else {
      uint16_t* o = static_cast<uint16_t*>(stage);
      for (int64_t i = 0; i < n; ++i) o[i] = f32_to_bf16(f16_to_f32(p[i]));
    }
  }
  ERIC_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dev.raw_data(), stage, dev.nbytes(), cudaMemcpyHostToDevice, ctx.stream()),
                            "upload copy");
  ERIC_RETURN_IF_ERROR(ctx.staging().release_after(ctx.stream()));
  return dev;
}

Result<Tensor> download_f32(const DeviceTensor& dev, Context& ctx) {
  if (dev.dtype() != DType::kF32 && dev.dtype() != DType::kBF16) {
    return InvalidArgument("download_f32: device tensor is {}", dtype_name(dev.dtype()));
  }
  ERIC_ASSIGN_OR_RETURN(Tensor out, Tensor::empty(DType::kF32, dev.shape()));
  if (dev.numel() == 0) return out;
  // As rows of the last dimension, through download_rows' pipeline.
  const int64_t width = dev.rank() >= 2 ? dev.dim(dev.rank() - 1) : 1;  // vectors: rows of one
  const int64_t rows = dev.numel() / width;
  ERIC_ASSIGN_OR_RETURN(DeviceTensor src, dev.reshape({rows, width}));
  ERIC_ASSIGN_OR_RETURN(Tensor flat, out.reshape({rows, width}));
  ERIC_ASSIGN_OR_RETURN(RowBlocks dst, RowBlocks::create({flat}));
  ERIC_RETURN_IF_ERROR(download_rows(src, dst, ctx));
  return out;
}

namespace {
Status check_row_transfer(const DeviceTensor& dev, const RowBlocks& host, const char* what) {
  if (!dev.defined() || dev.rank() != 2 || dev.dim(0) != host.rows() || dev.dim(1) != host.width()) {
    return InvalidArgument("{}: device tensor is {}, the host blocks hold [{}, {}]", what,
                           dev.defined() ? dev.shape().to_string() : std::string("undefined"), host.rows(),
                           host.width());
  }
  if (dev.dtype() != DType::kF32 && dev.dtype() != DType::kBF16) {
    return InvalidArgument("{}: device tensor is {} (float32 or bf16)", what, dtype_name(dev.dtype()));
  }
  return Status::Ok();
}
}  // namespace

// Pixel values (float32 on the host) go to a bf16 tower converted here, on the
// host, rather than copied as float32 and narrowed by cuda::to_dtype: the
// host reads the float32 rows once either way, and writing bf16 halves both
// the pinned-memory writes and the PCIe bytes (206 MB -> 103 MB for eight
// 1024x1024 images), with no second device buffer. Split over 16 cores the
// conversion runs at memory speed, which the chunked overlap then hides the
// copies behind.
Status upload_rows(const RowBlocks& src, const DeviceTensor& dst, Context& ctx, size_t chunk_bytes) {
  ERIC_RETURN_IF_ERROR(check_row_transfer(dst, src, "upload_rows"));
  if (dst.nbytes() == 0) return Status::Ok();
  const size_t row_bytes = static_cast<size_t>(dst.dim(1)) * dtype_size(dst.dtype());
  char* base = static_cast<char*>(dst.raw_data());
  for (const RowRange& c : plan_row_chunks(src.rows(), row_bytes, chunk_bytes)) {
    const size_t bytes = static_cast<size_t>(c.rows()) * row_bytes;
    // Waits until this slot's copy from two chunks back is done; the copy
    // of the previous chunk, out of the other slot, runs meanwhile.
    ERIC_ASSIGN_OR_RETURN(void* stage, ctx.staging().acquire(bytes));
    ERIC_RETURN_IF_ERROR(gather_rows(src, c, dst.dtype(), stage, ThreadPool::global()));
    ERIC_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(base + static_cast<size_t>(c.begin) * row_bytes, stage, bytes,
                                              cudaMemcpyHostToDevice, ctx.stream()),
                              "upload_rows copy");
    ERIC_RETURN_IF_ERROR(ctx.staging().release_after(ctx.stream()));
  }
  return Status::Ok();
}

// Results come down in the device dtype and are widened on the host (a
// shift per element, split over the pool) rather than widened by
// cuda::to_dtype first: bf16 halves the PCIe bytes and the pinned reads.
Status download_rows(const DeviceTensor& src, RowBlocks& dst, Context& ctx, size_t chunk_bytes) {
  ERIC_RETURN_IF_ERROR(check_row_transfer(src, dst, "download_rows"));
  if (dst.dtype() != DType::kF32 && dst.dtype() != src.dtype()) {
    return InvalidArgument("download_rows: cannot write {} into {} host blocks", dtype_name(src.dtype()),
                           dtype_name(dst.dtype()));
  }
  if (src.nbytes() == 0) return Status::Ok();
  const size_t row_bytes = static_cast<size_t>(src.dim(1)) * dtype_size(src.dtype());
  const char* base = static_cast<const char*>(src.raw_data());
  const std::vector<RowRange> chunks = plan_row_chunks(dst.rows(), row_bytes, chunk_bytes);
  struct InFlight {
    void* stage = nullptr;
    int slot = 0;
  };
  auto enqueue = [&](const RowRange& c) -> Result<InFlight> {
    const size_t bytes = static_cast<size_t>(c.rows()) * row_bytes;
    ERIC_ASSIGN_OR_RETURN(void* stage, ctx.staging().acquire(bytes));
    ERIC_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(stage, base + static_cast<size_t>(c.begin) * row_bytes, bytes,
                                              cudaMemcpyDeviceToHost, ctx.stream()),
                              "download_rows copy");
    ERIC_RETURN_IF_ERROR(ctx.staging().release_after(ctx.stream()));
    return InFlight{stage, ctx.staging().current_slot()};
  };
  ERIC_ASSIGN_OR_RETURN(InFlight next, enqueue(chunks[0]));
  for (size_t i = 0; i < chunks.size(); ++i) {
    const InFlight cur = next;
    // The next chunk's copy goes into the other slot (whose previous chunk
    // the host has already written out) while the host works on this one.
    if (i + 1 < chunks.size()) {
      ERIC_ASSIGN_OR_RETURN(next, enqueue(chunks[i + 1]));
    }
    ERIC_RETURN_IF_ERROR(ctx.staging().wait(cur.slot));
    ERIC_RETURN_IF_ERROR(scatter_rows(cur.stage, src.dtype(), chunks[i], dst, ThreadPool::global()));
  }
  return Status::Ok();
}

}  // namespace eric::cuda
