#include "backend/cuda/host_transfer.h"

#include <algorithm>
#include <cstring>

namespace eric::cuda {

namespace {
// Elements per parallel_for piece: enough that the pool's hand-off (a few
// microseconds) is small against the copy, few enough that a chunk of the
// pinned buffer (megabytes) still spreads over every thread.
constexpr int64_t kGrainElements = int64_t{1} << 15;

bool transfer_dtype(DType d) { return d == DType::kF32 || d == DType::kBF16; }

// n elements from s (sd) to d (dd); both float32 or bf16.
void convert_run(const void* s, DType sd, void* d, DType dd, int64_t n) {
  if (n <= 0) return;
  if (sd == dd) {
    std::memcpy(d, s, static_cast<size_t>(n) * dtype_size(sd));
  } else if (sd == DType::kF32) {
    convert_f32_to_bf16(static_cast<const float*>(s), static_cast<uint16_t*>(d), n);
  } else {
    convert_bf16_to_f32(static_cast<const uint16_t*>(s), static_cast<float*>(d), n);
  }
}

// Calls fn(block, first row in the block, rows, offset in the packed range)
// for the runs of rows [b, e) (packed) inside each block, in order.
template <typename Fn>
void for_block_runs(const RowBlocks& blocks, int64_t b, int64_t e, Fn&& fn) {
  if (b >= e) return;
  for (size_t i = blocks.block_of(b); i < blocks.size() && blocks.start(i) < e; ++i) {
    const int64_t lo = std::max(b, blocks.start(i)), hi = std::min(e, blocks.start(i + 1));
    if (hi > lo) fn(i, lo - blocks.start(i), hi - lo, lo - b);
  }
}

Status check_range(const RowBlocks& blocks, RowRange range, const char* what) {
  if (range.begin < 0 || range.end < range.begin || range.end > blocks.rows()) {
    return InvalidArgument("{}: rows [{}, {}) outside the {} packed rows", what, range.begin, range.end, blocks.rows());
  }
  return Status::Ok();
}
}  // namespace

void convert_f32_to_bf16(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, &src[i], 4);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const uint32_t quiet_nan = (u >> 16) | 0x0040u;
    dst[i] = static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
  }
}

void convert_bf16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = static_cast<uint32_t>(src[i]) << 16;
    std::memcpy(&dst[i], &u, 4);
  }
}

std::vector<RowRange> plan_row_chunks(int64_t rows, size_t row_bytes, size_t max_chunk_bytes) {
  std::vector<RowRange> chunks;
  if (rows <= 0) return chunks;
  const int64_t per = row_bytes == 0 ? rows : std::max<int64_t>(1, static_cast<int64_t>(max_chunk_bytes / row_bytes));
  for (int64_t b = 0; b < rows; b += per) chunks.push_back({b, std::min(rows, b + per)});
  return chunks;
}

Result<RowBlocks> RowBlocks::create(std::vector<Tensor> blocks) {
  RowBlocks r;
  r.starts_.push_back(0);
  for (size_t i = 0; i < blocks.size(); ++i) {
    const Tensor& t = blocks[i];
    if (!t.device().is_cpu() || t.rank() != 2 || !t.is_contiguous() || !transfer_dtype(t.dtype())) {
      return InvalidArgument("row block {} is {} {}: expected a contiguous [rows, width] float32 or bf16 CPU tensor",
                             i, dtype_name(t.dtype()), t.shape().to_string());
    }
    if (i == 0) {
      r.width_ = t.dim(1);
      r.dtype_ = t.dtype();
    } else if (t.dim(1) != r.width_ || t.dtype() != r.dtype_) {
      return InvalidArgument("row block {} is {} {}, but block 0 has {} rows of {}", i, dtype_name(t.dtype()),
                             t.shape().to_string(), dtype_name(r.dtype_), r.width_);
    }
    r.starts_.push_back(r.starts_.back() + t.dim(0));
  }
  r.blocks_ = std::move(blocks);
  return r;
}

size_t RowBlocks::block_of(int64_t r) const {
  // The last start <= r; empty blocks share their start with the next one,
  // and upper_bound skips past them.
  auto it = std::upper_bound(starts_.begin(), starts_.end(), r);
  return static_cast<size_t>(it - starts_.begin()) - 1;
}

Status gather_rows(const RowBlocks& src, RowRange range, DType dst_dtype, void* dst, ThreadPool& pool) {
  ERIC_RETURN_IF_ERROR(check_range(src, range, "gather_rows"));
  if (!transfer_dtype(dst_dtype)) return InvalidArgument("gather_rows: target dtype {}", dtype_name(dst_dtype));
  const int64_t width = src.width();
  const size_t in_size = dtype_size(src.dtype()), out_size = dtype_size(dst_dtype);
  char* out = static_cast<char*>(dst);
  const int64_t grain = std::max<int64_t>(1, kGrainElements / std::max<int64_t>(1, width));
  pool.parallel_for(range.rows(), grain, [&](int64_t b, int64_t e) {
    for_block_runs(src, range.begin + b, range.begin + e, [&](size_t i, int64_t row, int64_t rows, int64_t at) {
      const char* in = static_cast<const char*>(src.block(i).raw_data()) + row * width * in_size;
      convert_run(in, src.dtype(), out + (b + at) * width * out_size, dst_dtype, rows * width);
    });
  });
  return Status::Ok();
}

Status scatter_rows(const void* src, DType src_dtype, RowRange range, RowBlocks& dst, ThreadPool& pool) {
  ERIC_RETURN_IF_ERROR(check_range(dst, range, "scatter_rows"));
  if (!transfer_dtype(src_dtype) || (dst.dtype() != DType::kF32 && dst.dtype() != src_dtype)) {
    return InvalidArgument("scatter_rows: cannot write {} rows into {} blocks", dtype_name(src_dtype),
                           dtype_name(dst.dtype()));
  }
  const int64_t width = dst.width();
  const size_t in_size = dtype_size(src_dtype), out_size = dtype_size(dst.dtype());
  const char* in = static_cast<const char*>(src);
  // The blocks' storage, writable (fetched here: mutable_raw_data checks
  // the storage once, not in every thread).
  std::vector<char*> outs(dst.size());
  for (size_t i = 0; i < dst.size(); ++i) {
    Tensor t = dst.block(i);
    outs[i] = t.numel() == 0 ? nullptr : static_cast<char*>(t.mutable_raw_data());
  }
  const int64_t grain = std::max<int64_t>(1, kGrainElements / std::max<int64_t>(1, width));
  pool.parallel_for(range.rows(), grain, [&](int64_t b, int64_t e) {
    for_block_runs(dst, range.begin + b, range.begin + e, [&](size_t i, int64_t row, int64_t rows, int64_t at) {
      convert_run(in + (b + at) * width * in_size, src_dtype, outs[i] + row * width * out_size, dst.dtype(),
                  rows * width);
    });
  });
  return Status::Ok();
}

}  // namespace eric::cuda
