// The host side of the chunked CUDA transfers (no GPU needed): the parallel
// f32 <-> bf16 conversions against eric's scalar f32_to_bf16 / bf16_to_f32
// bit for bit, the chunk plan, and gathering / scattering the rows of several
// blocks (of odd widths, some empty) through every chunking, with one and
// with several threads.
#include "backend/cuda/host_transfer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace eric::cuda {
namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(HostTransferConvert, F32ToBf16RoundsExactlyAsTheScalarConversion) {
  // Every sign/exponent/top-mantissa half, with the low halves where the
  // rounding decides: exact, just below/at/above the tie, the largest, and
  // NaN payloads (0x7f80'0001 is a signalling NaN, 0x7f80'ffff rounds up
  // across the exponent if treated as a number).
  const uint32_t lows[] = {0x0000, 0x0001, 0x7fff, 0x8000, 0x8001, 0xffff, 0x4321};
  std::vector<float> in;
  for (uint32_t hi = 0; hi < 0x10000; ++hi) {
    for (uint32_t lo : lows) in.push_back(from_bits(hi << 16 | lo));
  }
  std::mt19937 gen(11);
  for (int i = 0; i < 100000; ++i) in.push_back(from_bits(static_cast<uint32_t>(gen())));
  std::vector<uint16_t> out(in.size() + 1, 0xabcd);
  convert_f32_to_bf16(in.data(), out.data(), static_cast<int64_t>(in.size()));
  for (size_t i = 0; i < in.size(); ++i) {
    ASSERT_EQ(out[i], f32_to_bf16(in[i])) << "input bits 0x" << std::hex << bits(in[i]);
  }
  EXPECT_EQ(out.back(), 0xabcd) << "wrote past n";
  // Spot checks that do not lean on the scalar function: ties go to even.
  uint16_t r[4];
  const float tie[4] = {from_bits(0x3f808000), from_bits(0x3f818000), from_bits(0x7f7fffff), from_bits(0xff800001)};
  convert_f32_to_bf16(tie, r, 4);
  EXPECT_EQ(r[0], 0x3f80);  // 1.0 + half an ulp: down to the even 1.0
  EXPECT_EQ(r[1], 0x3f82);  // odd neighbour: up
  EXPECT_EQ(r[2], 0x7f80);  // largest float rounds to +Inf
  EXPECT_EQ(r[3], 0xffc0);  // signalling NaN -> quiet NaN, sign kept
}

TEST(HostTransferConvert, Bf16ToF32IsExactForEveryValue) {
  std::vector<uint16_t> in(0x10000);
  for (uint32_t i = 0; i < 0x10000; ++i) in[i] = static_cast<uint16_t>(i);
  std::vector<float> out(in.size());
  convert_bf16_to_f32(in.data(), out.data(), static_cast<int64_t>(in.size()));
  for (uint32_t i = 0; i < 0x10000; ++i) ASSERT_EQ(bits(out[i]), i << 16) << "bf16 0x" << std::hex << i;
}

TEST(HostTransferPlan, ChunksCoverTheRowsInWholeRows) {
  EXPECT_TRUE(plan_row_chunks(0, 100, 1000).empty());
  EXPECT_EQ(plan_row_chunks(10, 100, 1000), (std::vector<RowRange>{{0, 10}}));
  EXPECT_EQ(plan_row_chunks(25, 100, 1000), (std::vector<RowRange>{{0, 10}, {10, 20}, {20, 25}}));
  EXPECT_EQ(plan_row_chunks(20, 100, 1000), (std::vector<RowRange>{{0, 10}, {10, 20}}));
  EXPECT_EQ(plan_row_chunks(30, 100, 1099), (std::vector<RowRange>{{0, 10}, {10, 20}, {20, 30}}));
  // A row larger than a chunk travels alone.
  EXPECT_EQ(plan_row_chunks(3, 5000, 1000), (std::vector<RowRange>{{0, 1}, {1, 2}, {2, 3}}));
  EXPECT_EQ(plan_row_chunks(4, 0, 1000), (std::vector<RowRange>{{0, 4}}));
}

Tensor random_rows(int64_t rows, int64_t width, std::mt19937& gen) {
  Tensor t = Tensor::empty(DType::kF32, {rows, width}).value();
  std::normal_distribution<float> dist(0.0f, 3.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.mutable_data<float>()[i] = dist(gen);
  return t;
}

// Output blocks start as 7s, so a row the scatter missed shows.
Tensor sevens(int64_t rows, int64_t width) {
  Tensor t = Tensor::empty(DType::kF32, {rows, width}).value();
  for (int64_t i = 0; i < t.numel(); ++i) t.mutable_data<float>()[i] = 7.0f;
  return t;
}

TEST(HostTransferRows, RejectsBlocksThatDoNotFit) {
  std::mt19937 gen(1);
  auto mismatched = RowBlocks::create({random_rows(2, 5, gen), random_rows(3, 6, gen)});
  ASSERT_FALSE(mismatched.ok());
  EXPECT_NE(mismatched.status().message().find("row block 1"), std::string::npos) << mismatched.status().message();
  EXPECT_FALSE(RowBlocks::create({random_rows(2, 5, gen), random_rows(2, 5, gen).to(DType::kBF16).value()}).ok());
  EXPECT_FALSE(RowBlocks::create({Tensor::zeros(DType::kF32, {2, 3, 4}).value()}).ok());
  EXPECT_FALSE(RowBlocks::create({Tensor::zeros(DType::kI64, {2, 3}).value()}).ok());
  Tensor wide = random_rows(4, 6, gen);
  Tensor strided = wide.permute({1, 0}).value();
  ASSERT_FALSE(strided.is_contiguous());
  EXPECT_FALSE(RowBlocks::create({strided}).ok());

  RowBlocks rb = RowBlocks::create({random_rows(2, 5, gen)}).value();
  std::vector<uint16_t> buf(100);
  EXPECT_FALSE(gather_rows(rb, {1, 3}, DType::kBF16, buf.data(), ThreadPool::global()).ok());
  EXPECT_FALSE(gather_rows(rb, {0, 2}, DType::kI32, buf.data(), ThreadPool::global()).ok());
  RowBlocks as_bf16 = RowBlocks::create({Tensor::zeros(DType::kBF16, {2, 5}).value()}).value();
  std::vector<float> f(10);
  EXPECT_FALSE(scatter_rows(f.data(), DType::kF32, {0, 2}, as_bf16, ThreadPool::global()).ok())
      << "float32 rows must not be narrowed into bf16 blocks silently";
}

TEST(HostTransferRows, BlockOfSkipsEmptyBlocks) {
  std::mt19937 gen(2);
  RowBlocks rb =
      RowBlocks::create({random_rows(2, 3, gen), random_rows(0, 3, gen), random_rows(3, 3, gen), random_rows(0, 3, gen)})
          .value();
  EXPECT_EQ(rb.rows(), 5);
  const size_t expect[] = {0, 0, 2, 2, 2};
  for (int64_t r = 0; r < 5; ++r) EXPECT_EQ(rb.block_of(r), expect[r]) << "row " << r;
}

// Items of uneven sizes (one empty), gathered chunk by chunk and scattered
// back, against a packed copy converted element by element.
class HostTransferRoundTrip : public ::testing::TestWithParam<std::tuple<int64_t, int>> {};

TEST_P(HostTransferRoundTrip, GatherAndScatterMatchThePackedConversion) {
  const auto [width, threads] = GetParam();
  ThreadPool pool(threads);
  std::mt19937 gen(static_cast<unsigned>(width * 7 + threads));
  const std::vector<int64_t> item_rows = {37, 0, 101, 1, 64};
  std::vector<Tensor> items;
  std::vector<float> packed;
  for (int64_t r : item_rows) {
    items.push_back(random_rows(r, width, gen));
    packed.insert(packed.end(), items.back().data<float>(), items.back().data<float>() + r * width);
  }
  // A NaN and an infinity travel too.
  items[2].mutable_data<float>()[5] = from_bits(0x7fa00001);
  packed[static_cast<size_t>(37 * width + 5)] = from_bits(0x7fa00001);
  items[4].mutable_data<float>()[0] = -INFINITY;
  packed[static_cast<size_t>(139 * width)] = -INFINITY;
  const int64_t rows = 37 + 101 + 1 + 64;
  RowBlocks src = RowBlocks::create(items).value();
  ASSERT_EQ(src.rows(), rows);

  // Chunk sizes: one row, a few rows that cut items mid-way, all rows.
  for (size_t chunk_rows : {size_t{1}, size_t{7}, size_t{50}, size_t{1000}}) {
    SCOPED_TRACE(testing::Message() << "chunk of " << chunk_rows << " rows");
    std::vector<uint16_t> bf(static_cast<size_t>(rows * width) + 1, 0x5555);
    std::vector<float> f32(static_cast<size_t>(rows * width));
    const auto chunks = plan_row_chunks(rows, static_cast<size_t>(width) * 2, chunk_rows * width * 2);
    for (const RowRange& c : chunks) {
      ASSERT_TRUE(gather_rows(src, c, DType::kBF16, bf.data() + c.begin * width, pool).ok());
      ASSERT_TRUE(gather_rows(src, c, DType::kF32, f32.data() + c.begin * width, pool).ok());
    }
    for (size_t i = 0; i < packed.size(); ++i) {
      ASSERT_EQ(bf[i], f32_to_bf16(packed[i])) << "element " << i;
      ASSERT_EQ(bits(f32[i]), bits(packed[i])) << "element " << i;
    }
    EXPECT_EQ(bf.back(), 0x5555) << "wrote past the rows";

    // Back into fresh float32 blocks of the items' shapes, from bf16 (widened)
    // and from float32 (copied).
    std::vector<Tensor> outs, outs32;
    for (int64_t r : item_rows) {
      outs.push_back(sevens(r, width));
      outs32.push_back(sevens(r, width));
    }
    RowBlocks dst = RowBlocks::create(outs).value();
    RowBlocks dst32 = RowBlocks::create(outs32).value();
    for (const RowRange& c : chunks) {
      ASSERT_TRUE(scatter_rows(bf.data() + c.begin * width, DType::kBF16, c, dst, pool).ok());
      ASSERT_TRUE(scatter_rows(f32.data() + c.begin * width, DType::kF32, c, dst32, pool).ok());
    }
    size_t k = 0;
    for (size_t item = 0; item < outs.size(); ++item) {
      for (int64_t i = 0; i < outs[item].numel(); ++i, ++k) {
        ASSERT_EQ(bits(outs[item].data<float>()[i]), bits(bf16_to_f32(f32_to_bf16(packed[k]))))
            << "item " << item << " element " << i;
        ASSERT_EQ(bits(outs32[item].data<float>()[i]), bits(packed[k])) << "item " << item << " element " << i;
      }
    }
    EXPECT_EQ(k, packed.size());
  }
}

// Widths: tiny and odd, and Qwen's patch_dim (1176), where a chunk splits
// into several parallel pieces.
INSTANTIATE_TEST_SUITE_P(WidthsAndThreads, HostTransferRoundTrip,
                         ::testing::Combine(::testing::Values(int64_t{1}, int64_t{13}, int64_t{1176}),
                                            ::testing::Values(1, 4)));

}  // namespace
}  // namespace eric::cuda
