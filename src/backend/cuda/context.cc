#include "backend/cuda/context.h"

#include <cstring>

#include "backend/cuda/cuda_error.h"

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
  } else {
    auto widen = [&](int64_t i) -> float {
      if (src == DType::kF32) return static_cast<const float*>(in)[i];
      if (src == DType::kBF16) return bf16_to_f32(static_cast<const uint16_t*>(in)[i]);
      return f16_to_f32(static_cast<const uint16_t*>(in)[i]);
    };
    if (dtype == DType::kF32) {
      float* o = static_cast<float*>(stage);
      for (int64_t i = 0; i < n; ++i) o[i] = widen(i);
    } else {
      uint16_t* o = static_cast<uint16_t*>(stage);
      for (int64_t i = 0; i < n; ++i) o[i] = f32_to_bf16(widen(i));
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
  if (dev.dtype() == DType::kF32) {
    ERIC_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(out.mutable_raw_data(), dev.raw_data(), dev.nbytes(), cudaMemcpyDeviceToHost, ctx.stream()),
        "download copy");
    ERIC_RETURN_IF_ERROR(ctx.synchronize());
    return out;
  }
  std::vector<uint16_t> tmp(static_cast<size_t>(dev.numel()));
  ERIC_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(tmp.data(), dev.raw_data(), dev.nbytes(), cudaMemcpyDeviceToHost, ctx.stream()), "download copy");
  ERIC_RETURN_IF_ERROR(ctx.synchronize());
  float* o = out.mutable_data<float>();
  for (size_t i = 0; i < tmp.size(); ++i) o[i] = bf16_to_f32(tmp[i]);
  return out;
}

}  // namespace eric::cuda
