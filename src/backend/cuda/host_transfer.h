// The host side of chunked transfers between host tensors and the device,
// with no CUDA call in it (so it is unit-tested where there is no GPU):
// several items' row blocks addressed as the rows of one packed matrix
// without packing it, the chunk plan for the pinned double buffer, and the
// parallel row conversions into and out of a staging buffer. context.h's
// upload_rows / download_rows drive them around the asynchronous copies.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "common/thread_pool.h"
#include "tensor/tensor.h"

namespace eric::cuda {

// Element conversions. f32 -> bf16 rounds exactly as eric::f32_to_bf16
// (nearest, ties to even; NaN stays a quiet NaN with its sign; +-Inf stays),
// written without branches so the compiler vectorises it; bf16 -> f32 is exact.
void convert_f32_to_bf16(const float* src, uint16_t* dst, int64_t n);
void convert_bf16_to_f32(const uint16_t* src, float* dst, int64_t n);

// Rows [begin, end).
struct RowRange {
  int64_t begin = 0, end = 0;
  int64_t rows() const { return end - begin; }
  bool operator==(const RowRange&) const = default;
};

// [0, rows) in consecutive ranges of whole rows, each at most
// `max_chunk_bytes` (row_bytes per row) but never empty: a row larger than
// the chunk is a chunk of its own. No ranges for rows == 0.
std::vector<RowRange> plan_row_chunks(int64_t rows, size_t row_bytes, size_t max_chunk_bytes);

// Host tensors [rows_i, width], all of one dtype (float32 or bf16) and width,
// read or written as the rows of their concatenation (item 0's rows first).
// Holds the tensors (their storage is shared, as Tensor copies do).
class RowBlocks {
 public:
  RowBlocks() = default;
  // Each block must be a contiguous rank-2 CPU tensor; blocks may have no
  // rows. InvalidArgument names the first block that does not fit.
  static Result<RowBlocks> create(std::vector<Tensor> blocks);

  int64_t rows() const { return starts_.empty() ? 0 : starts_.back(); }
  int64_t width() const { return width_; }
  DType dtype() const { return dtype_; }
  size_t row_bytes() const { return static_cast<size_t>(width_) * dtype_size(dtype_); }
  size_t size() const { return blocks_.size(); }
  const Tensor& block(size_t i) const { return blocks_[i]; }
  // Index of the block that holds packed row r (0 <= r < rows()).
  size_t block_of(int64_t r) const;
  // The packed row where block i starts (start(size()) == rows()).
  int64_t start(size_t i) const { return starts_[i]; }

 private:
  std::vector<Tensor> blocks_;
  std::vector<int64_t> starts_;  // size() + 1 prefix sums of the blocks' rows
  int64_t width_ = 0;
  DType dtype_ = DType::kF32;
};

// Packed rows `range` of `src`, converted to `dst_dtype` (float32 or bf16),
// written one after the other into `dst` (range.rows() * width elements of
// dst_dtype), split over `pool`'s threads.
Status gather_rows(const RowBlocks& src, RowRange range, DType dst_dtype, void* dst, ThreadPool& pool);
// The reverse: range.rows() packed rows of `src_dtype` (float32 or bf16) in
// `src` into rows `range` of `dst`, whose blocks are float32 or src_dtype.
Status scatter_rows(const void* src, DType src_dtype, RowRange range, RowBlocks& dst, ThreadPool& pool);

}  // namespace eric::cuda
