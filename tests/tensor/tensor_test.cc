#include "tensor/tensor.h"

#include <gtest/gtest.h>

namespace eric {
namespace {

Tensor iota(Shape shape) {
  std::vector<float> v(static_cast<size_t>(shape.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return *Tensor::from_vector(v, std::move(shape));
}

TEST(TensorTest, EmptyZerosAndAccess) {
  auto t = Tensor::zeros(DType::kF32, {2, 3});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->numel(), 6);
  EXPECT_EQ(t->nbytes(), 24u);
  EXPECT_TRUE(t->is_contiguous());
  EXPECT_EQ(t->data<float>()[5], 0.0f);
  EXPECT_EQ(t->describe(), "float32[2, 3] cpu");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->raw_data()) % 64, 0u);
}

TEST(TensorTest, ShapeErrors) {
  EXPECT_FALSE(Tensor::empty(DType::kF32, {2, -1}).ok());
  EXPECT_FALSE(Tensor::from_vector(std::vector<float>{1, 2, 3}, {2, 2}).ok());
  auto t = iota({2, 3});
  auto r = t.reshape({4, 2});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("[4, 2]"), std::string::npos);
  Status s = t.expect_shape({3, 2}, "weight 'w'");
  EXPECT_EQ(s.message(), "weight 'w': expected shape [3, 2], got [2, 3]");
  EXPECT_EQ(t.expect_dtype(DType::kBF16, "x").message(), "x: expected dtype bfloat16, got float32");
}

TEST(TensorDeathTest, WrongTypedAccessAborts) {
  auto t = iota({2});
  EXPECT_DEATH((void)t.data<int64_t>(), "accessed as int64");
}

TEST(TensorTest, ReshapeInfersDim) {
  auto t = iota({2, 3, 4});
  auto r = t.reshape({-1, 4});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->shape(), Shape({6, 4}));
  EXPECT_EQ(r->data<float>()[23], 23.0f);
  EXPECT_FALSE(t.reshape({-1, -1}).ok());
  EXPECT_FALSE(t.reshape({-1, 5}).ok());
}

TEST(TensorTest, SlicePermuteContiguous) {
  auto t = iota({2, 3, 4});
  auto s = t.slice(1, 1, 3);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->shape(), Shape({2, 2, 4}));
  EXPECT_FALSE(s->is_contiguous());
  auto c = s->contiguous();
  ASSERT_TRUE(c.ok());
  // element [1, 0, 2] of the slice is t[1, 1, 2] = 12 + 4 + 2
  EXPECT_EQ(c->data<float>()[1 * 8 + 0 * 4 + 2], 18.0f);

  auto p = t.permute({2, 0, 1});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->shape(), Shape({4, 2, 3}));
  auto pc = p->contiguous();
  ASSERT_TRUE(pc.ok());
  // pc[k, i, j] = t[i, j, k] = i*12 + j*4 + k
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) EXPECT_EQ(pc->data<float>()[k * 6 + i * 3 + j], float(i * 12 + j * 4 + k));

  auto tr = t.transpose(0, -1);
  ASSERT_TRUE(tr.ok());
  EXPECT_EQ(tr->shape(), Shape({4, 3, 2}));
  EXPECT_FALSE(t.slice(0, 1, 3).ok());
  EXPECT_FALSE(t.permute({0, 0, 1}).ok());
  EXPECT_FALSE(t.slice(5, 0, 1).ok());
}

TEST(TensorTest, ViewsShareStorageClonesDoNot) {
  auto t = iota({4});
  auto v = *t.reshape({2, 2});
  auto c = *t.clone();
  t.mutable_data<float>()[0] = 100.0f;
  EXPECT_EQ(v.data<float>()[0], 100.0f);
  EXPECT_EQ(c.data<float>()[0], 0.0f);
}

TEST(TensorTest, DtypeConversion) {
  auto t = *Tensor::from_vector(std::vector<float>{1.0f, 2.5f, -3.0f}, {3});
  auto b = t.to(DType::kBF16);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->dtype(), DType::kBF16);
  EXPECT_EQ(b->nbytes(), 6u);
  auto back = b->to(DType::kF32);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->data<float>()[1], 2.5f);
  auto i = t.to(DType::kI64);
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(i->data<int64_t>()[2], -3);
}

TEST(TensorTest, BorrowedStorage) {
  auto owner = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3, 4});
  auto storage = Storage::borrow(owner->data(), owner->size() * 4, owner);
  auto t = Tensor::from_storage(storage, 4, DType::kF32, {3});
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->storage()->owned());
  EXPECT_EQ(t->data<float>()[0], 2.0f);
  EXPECT_FALSE(Tensor::from_storage(storage, 8, DType::kF32, {3}).ok());
}

TEST(TensorTest, CopyFromChecksShape) {
  auto a = iota({2, 3});
  auto b = *Tensor::zeros(DType::kF32, {3, 2});
  EXPECT_FALSE(b.copy_from(a).ok());
  auto at = *a.transpose(0, 1);
  ASSERT_TRUE(b.copy_from(at).ok());
  EXPECT_EQ(b.data<float>()[1], 3.0f);  // b[0,1] = a[1,0]
}

TEST(TensorTest, ConcatRowsStacksPartsAndChecksThem) {
  auto a = iota({2, 3});                   // 0..5
  auto b = *iota({3, 2}).transpose(0, 1);  // a [2, 3] view: rows 0 2 4 / 1 3 5
  auto empty = *Tensor::empty(DType::kF32, {0, 3});
  auto c = concat_rows({a, empty, b});
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->shape(), (Shape{4, 3}));
  EXPECT_TRUE(c->is_contiguous());
  EXPECT_EQ(std::vector<float>(c->data<float>(), c->data<float>() + 12),
            (std::vector<float>{0, 1, 2, 3, 4, 5, 0, 2, 4, 1, 3, 5}));
  EXPECT_FALSE(concat_rows({}).ok());
  EXPECT_FALSE(concat_rows({a, iota({2, 2})}).ok());      // other width
  EXPECT_FALSE(concat_rows({a, *a.to(DType::kBF16)}).ok());  // other dtype
  EXPECT_FALSE(concat_rows({a, iota({6})}).ok());         // other rank
}

}  // namespace
}  // namespace eric
